//! The `almanac` binary: everything lives in the library; see `cli::main`.

fn main() -> std::process::ExitCode {
    almanac::cli::main()
}
