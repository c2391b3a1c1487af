//! Testing your integration: the checks a host writes for its own use of
//! hookwire, runnable.
//!
//! ```text
//! cargo run --example testing
//! ```
//!
//! Each check (in `scenarios.rs`, also run by `tests/testing_example.rs`)
//! sets up what a test needs: a `ManualClock`, a scripted `MockTransport`,
//! the retry policy's jitter off, `Dispatcher::run_until_idle` to work the
//! queue off, assertions on the requests sent and the attempts recorded; and
//! for a receiver, a request signed in the test with `Signer` and run through
//! a `Receiver`. It prints one line per check and exits 0 when all hold, 1
//! otherwise. Nothing leaves the process and nothing sleeps.

mod scenarios;

use std::process::ExitCode;

const HELP: &str = "\
testing: the checks a host writes for its use of hookwire (manual clock, mock transport, signed requests), run once

usage: cargo run --example testing [-- --help]

flags:
  -h, --help   print this help and exit";

fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        None => {}
        Some("-h" | "--help") => {
            println!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!("unknown argument {other}\n\n{HELP}");
            return ExitCode::from(2);
        }
    }
    let mut failed = 0;
    for (name, check) in scenarios::all() {
        match futures::executor::block_on(check) {
            Ok(()) => println!("ok      {name}"),
            Err(e) => {
                failed += 1;
                println!("FAILED  {name}: {e}");
            }
        }
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
