use std::process::ExitCode;

fn main() -> ExitCode {
    ferry::alloc::limit_arenas();
    match ferry::cli::run() {
        Ok(code) => code,
        Err(error) => {
            // The whole chain, outermost first, so the root cause is never hidden.
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}
