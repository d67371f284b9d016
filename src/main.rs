use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // A panic's message may quote data; it goes through the same secret mask as all output.
    std::panic::set_hook(Box::new(|info| {
        plumb::output::stderr(&format!(
            "error: plumb crashed (a bug; please report it): {info}\n"
        ));
    }));
    let cli = match plumb::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(usage) => return plumb::error::usage_error(&usage),
    };
    let runtime = tokio::runtime::Runtime::new().expect("cannot start the async runtime");
    let result = runtime.block_on(plumb::commands::run(cli.command));
    if let Err(error) = &result {
        plumb::commands::report_error(error);
    }
    // A read of the terminal may still block (an apply interrupted at its prompt): do not
    // wait for it.
    runtime.shutdown_background();
    plumb::error::exit_code(&result)
}
