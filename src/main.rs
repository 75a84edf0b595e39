//! The `ptd` command. Errors from the library are reported here, once; every library error's
//! message already names the file, field or value at fault.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
