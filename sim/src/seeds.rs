//! Running a simulation over many seeds, shared by the core simulation and the whole-client
//! simulation: the `SIM_*` environment variables, seeds spread over threads, a panic turned
//! into the failure of its seed, and the report of the failed ones.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// A number from the environment; a value that is not one is a test error naming it.
pub fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
    )
}

/// What a run over seeds `first..first + count` gave.
pub struct Outcome<T> {
    pub first: u64,
    pub count: u64,
    /// The result of every seed that passed.
    pub passed: Vec<T>,
    /// Each failed seed with its report, in seed order.
    pub failed: Vec<(u64, String)>,
}

/// Runs `simulate` for seeds `SIM_FIRST_SEED..` (default 0), `SIM_SEEDS` of them (default
/// `default_count`), on up to 8 threads. A panic fails its seed with the panic's message.
pub fn run<T: Send>(
    default_count: u64,
    simulate: impl Fn(u64) -> Result<T, String> + Sync,
) -> Outcome<T> {
    let first = env_u64("SIM_FIRST_SEED").unwrap_or(0);
    let count = env_u64("SIM_SEEDS").unwrap_or(default_count);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    let next = AtomicU64::new(first);
    let passed = Mutex::new(Vec::new());
    let failed = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let seed = next.fetch_add(1, Ordering::Relaxed);
                if seed >= first + count {
                    return;
                }
                match caught(seed, || simulate(seed)) {
                    Ok(t) => passed.lock().unwrap_or_else(|p| p.into_inner()).push(t),
                    Err(report) => failed
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((seed, report)),
                }
            });
        }
    });
    let mut failed = failed.into_inner().unwrap_or_else(|p| p.into_inner());
    failed.sort();
    Outcome {
        first,
        count,
        passed: passed.into_inner().unwrap_or_else(|p| p.into_inner()),
        failed,
    }
}

/// `simulate()`, with a panic turned into the failure of `seed`.
pub fn caught<T>(seed: u64, simulate: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(simulate)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        Err(format!("seed {seed}: panicked: {message}\n"))
    })
}

impl<T> Outcome<T> {
    /// Panics with the first reports and `replay(seed)` of the first failed seed, if any failed.
    pub fn assert_passed(&self, replay: impl Fn(u64) -> String) {
        let Some((seed, _)) = self.failed.first() else {
            return;
        };
        let seeds: Vec<u64> = self.failed.iter().map(|(seed, _)| *seed).collect();
        let mut report = format!(
            "{} of {} seeds failed: {seeds:?}\n",
            self.failed.len(),
            self.count
        );
        for (_, f) in self.failed.iter().take(5) {
            report.push_str(f);
        }
        report.push_str(&format!("replay one: {}\n", replay(*seed)));
        panic!("{report}");
    }
}
