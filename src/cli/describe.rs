//! `credrisk describe FILE`: the dataset summary of any applicant file (.parquet or .csv), as a
//! table or as JSON.

use crate::data::{read_table, summarize};
use crate::error::Result;
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
    let table = read_table(&args.file)?;
    let summary = summarize(&table);
    if args.json {
        println!("{}", summary.to_json());
    } else {
        println!("{}\n", args.file.display());
        print!("{}", summary.render());
    }
    Ok(())
}
