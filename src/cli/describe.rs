//! `credrisk describe FILE`: the dataset summary of a file of the built-in Chilean table (.parquet
//! or .csv), as a table or as JSON.

use crate::data::{read_table, summarize};
use crate::error::Result;
use crate::schema::builtin;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The applicant file (.parquet or .csv).
    pub file: PathBuf,
    /// Print the summary as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let table = read_table(&args.file, &builtin())?;
    let summary = summarize(&table)?;
    if args.json {
        println!("{}", summary.to_json());
    } else {
        println!("{}\n", args.file.display());
        print!("{}", summary.render());
    }
    Ok(())
}
