//! CPU time: this process's (`getrusage`, all threads, microseconds) and the broker's
//! (`/proc/<pid>/stat`, clock ticks), so a run can say where the time went when loopback wall
//! time is broker-bound.

use std::time::{Duration, Instant};

/// What one measured run cost.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub wall: Duration,
    pub cpu: Duration,
    pub broker_cpu: Duration,
}

/// Started right before the measured work, stopped right after it.
pub struct Meter {
    broker_pid: u32,
    wall: Instant,
    cpu: Duration,
    broker_cpu: Duration,
}

impl Meter {
    pub fn start(broker_pid: u32) -> Meter {
        Meter {
            broker_pid,
            broker_cpu: process_cpu_of(broker_pid),
            cpu: own_cpu(),
            wall: Instant::now(),
        }
    }

    pub fn stop(self) -> Sample {
        let wall = self.wall.elapsed();
        let cpu = own_cpu() - self.cpu;
        let broker_cpu = process_cpu_of(self.broker_pid) - self.broker_cpu;
        Sample {
            wall,
            cpu,
            broker_cpu,
        }
    }
}

/// User + system CPU time of this process so far (every thread).
#[allow(unsafe_code)]
fn own_cpu() -> Duration {
    // SAFETY: `getrusage` fills the `rusage` it is pointed at (a zeroed, properly aligned
    // local); RUSAGE_SELF is a valid `who`. An all-zero `rusage` is a valid value.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        let rc = libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        assert_eq!(rc, 0, "getrusage failed");
        usage
    };
    timeval(usage.ru_utime) + timeval(usage.ru_stime)
}

fn timeval(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
}

/// User + system CPU time of another process so far (`/proc/<pid>/stat`, tick resolution).
fn process_cpu_of(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read broker stat");
    // Fields after the command name (which may hold spaces) start at field 3, `state`;
    // `utime` and `stime` are fields 14 and 15.
    let after_name = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second() as f64)
}

#[allow(unsafe_code)]
fn clock_ticks_per_second() -> i64 {
    // SAFETY: `sysconf` only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as i64
    } else {
        100
    }
}
