//! `credrisk runs`: TODO, being written.

use crate::error::{Error, Result};

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> Result<()> {
    Err(Error::Usage("credrisk runs is not implemented yet".into()))
}
