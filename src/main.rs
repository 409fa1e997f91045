//! The `credrisk` binary: parses the command line and hands it to the library's CLI layer, which
//! validates it into a config, runs the subcommand and maps errors to exit codes.

fn main() {
    std::process::exit(credrisk::cli::main());
}
