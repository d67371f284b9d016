use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = plumb::cli::Cli::parse();
    let runtime = tokio::runtime::Runtime::new().expect("cannot start the async runtime");
    let result = runtime.block_on(plumb::commands::run(cli.command));
    if let Err(error) = &result {
        plumb::commands::report_error(error);
    }
    plumb::error::exit_code(&result)
}
