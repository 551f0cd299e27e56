//! The one rule for counting CPU: milli-cores, rounded up.
//!
//! Configs give `cpu` in cores as a float (`0.1`, `1.5`); the scheduler's
//! placement, the simulator's agents and the real agent's admission all
//! count it with [`cpu_millis`], so that what the scheduler thinks fits is
//! exactly what an agent accepts. Rounding up means a task never counts for
//! less than it asked, and validation refuses anything below
//! [`CPU_MIN_CORES`], which would otherwise count as a whole milli-core
//! while asking for less (or, rounded to nearest, as nothing at all).

/// The least `cpu` a config may ask for: one milli-core.
pub const CPU_MIN_CORES: f64 = 0.001;

/// `cores` in milli-cores, rounded up; 0 for anything not a positive
/// finite number (which validation refuses). A float within half a
/// millionth of a core of a whole milli-core counts as that milli-core, so
/// that `0.3`, which is `0.29999999999999998` as a float, is 300 and not
/// 301. Totals an agent offers are counted the same way.
pub fn cpu_millis(cores: f64) -> u64 {
    if !(cores.is_finite() && cores > 0.0) {
        return 0;
    }
    // Saturates for absurd values, which is what a total should do.
    let micros = (cores * 1_000_000.0).round() as u64;
    micros.div_ceil(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_milli_cores_rounded_up() {
        for (cores, millis) in [
            (0.0015, 2),
            (0.001, 1),
            (0.0004, 1),
            (0.0010000001, 1),
            (0.1, 100),
            (0.3, 300),
            (0.57, 570),
            (1.001, 1001),
            (1.0011, 1002),
            (2.0, 2000),
            (0.0, 0),
            (-1.0, 0),
            (f64::NAN, 0),
            (f64::INFINITY, 0),
        ] {
            assert_eq!(cpu_millis(cores), millis, "{cores}");
        }
        // Sums of small steps land on whole milli-cores.
        assert_eq!(cpu_millis(0.1 + 0.2), 300);
        assert_eq!(cpu_millis(1e300), u64::MAX.div_ceil(1000));
    }
}
