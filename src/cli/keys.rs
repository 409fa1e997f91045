//! `credrisk keys add NAME --file FILE`: creates an API key for `serve --api-keys`, prints it once
//! and appends only its salted hash to the key file.

use crate::error::Result;
use crate::serve;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Create a key named NAME (letters, digits, '.', '_', '-'): printed once on stdout, its salted
    /// hash appended to FILE (created owner-only if missing). The name appears in audit records.
    Add {
        name: String,
        /// The key file `serve --api-keys` reads.
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
    },
}

pub fn run(args: Args) -> Result<()> {
    match args.action {
        Action::Add { name, file } => {
            let key = serve::add_key(&file, &name)?;
            // The key on stdout alone (scripts capture it); what happened on stderr.
            println!("{key}");
            eprintln!(
                "Key {name:?} added to {}. It is shown only now: store it in the client's secret store.",
                file.display()
            );
            Ok(())
        }
    }
}
