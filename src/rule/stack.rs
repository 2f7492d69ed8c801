//! Running the recursive passes over a rule on a thread with a stack big
//! enough for the deepest rule Entra ID's length limit allows.
//!
//! Why a thread rather than iterative passes: the grammar (pest), the AST
//! builder, the checker and the printers all recurse once per nesting
//! level, and a 3,072-character rule can nest about 1,500 parentheses. The
//! documentation sets no nesting limit, so fleetlab does not either beyond
//! what the length allows; short rules (all real ones) stay on the caller's
//! thread, longer ones get [`DEEP_STACK`] bytes, reserved, not committed.

/// The stack of the thread that compiles long rules.
pub const DEEP_STACK: usize = 256 << 20;
/// Rules up to this many bytes cannot nest deep enough to need it.
const SHALLOW_BYTES: usize = 256;

/// Runs `f` for a rule of `len` bytes, on a big-stack thread when it is long.
pub(crate) fn for_rule<T: Send>(len: usize, f: impl Fn() -> T + Sync) -> T {
    if len <= SHALLOW_BYTES {
        return f();
    }
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name("fleetlab-rule".into())
            .stack_size(DEEP_STACK)
            .spawn_scoped(scope, &f);
        match spawned {
            Ok(handle) => match handle.join() {
                Ok(v) => v,
                Err(panic) => std::panic::resume_unwind(panic),
            },
            // No thread to be had: run here, as short rules do.
            Err(_) => f(),
        }
    })
}
