fn main() -> std::process::ExitCode {
    fleetlab::cli::main()
}
