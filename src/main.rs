//! The `symconv` binary: parses arguments, runs, prints, exits.

use clap::Parser;
use std::io::IsTerminal;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match symconv::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match symconv::cli::run(cli) {
        Ok(outcome) => {
            print!("{}", outcome.stdout);
            ExitCode::from(outcome.code as u8)
        }
        Err(e) => {
            eprint!("{}", symconv::cli::diagnostic(&e, std::io::stderr().is_terminal()));
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
