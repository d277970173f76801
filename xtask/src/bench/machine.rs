//! What the benchmark ran on: CPU, cores, GPU, load and date.

use std::{
    env, fs,
    process::{Command, Stdio},
    time::{SystemTime, UNIX_EPOCH},
};

use super::options::Options;
use super::table::Machine;

/// The first `model name` (x86) or `Processor`/`cpu model` line of /proc/cpuinfo, and the
/// number of `processor` entries.
pub(crate) fn parse_cpuinfo(text: &str) -> (Option<String>, usize) {
    let mut model = None;
    let mut fallback = None;
    let mut cores = 0;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        match key {
            "processor" => cores += 1,
            "model name" if model.is_none() && !value.is_empty() => model = Some(value.to_owned()),
            "Processor" | "cpu model" | "Hardware" if fallback.is_none() && !value.is_empty() => {
                fallback = Some(value.to_owned());
            }
            _ => {}
        }
    }
    (model.or(fallback), cores)
}

/// `unix_secs` as `YYYY-MM-DDTHH:MM:SSZ` (UTC, proleptic Gregorian).
pub(crate) fn utc_timestamp(unix_secs: u64) -> String {
    let days = unix_secs / 86_400;
    let secs = unix_secs % 86_400;
    // Days since 1970-01-01 to a civil date (the era-based algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3_600,
        secs % 3_600 / 60,
        secs % 60
    )
}

/// The first 1-minute load figure of /proc/loadavg.
pub(crate) fn parse_loadavg(text: &str) -> Option<f64> {
    text.split_whitespace().next()?.parse().ok()
}

pub(crate) fn machine_now(opts: &Options) -> Machine {
    let (cpu, cores) = fs::read_to_string("/proc/cpuinfo")
        .map(|t| parse_cpuinfo(&t))
        .unwrap_or((None, 0));
    let cores = if cores > 0 {
        cores
    } else {
        std::thread::available_parallelism().map_or(0, usize::from)
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let gpu = opts.cuda().then(gpu_name).flatten();
    Machine {
        cpu: cpu.unwrap_or_else(|| env::consts::ARCH.to_owned()),
        cores,
        device: opts.device.clone(),
        gpu,
        threads: opts.threads,
        date: utc_timestamp(now),
        load_at_start: load_now(),
        load_at_end: None,
        python_torch: None,
    }
}

pub(crate) fn load_now() -> Option<f64> {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| parse_loadavg(&t))
}

/// The first GPU's name, from nvidia-smi where it is installed.
pub(crate) fn gpu_name() -> Option<String> {
    let out = Command::new("nvidia-smi")
        .args(["--query-gpu=name,memory.total", "--format=csv,noheader"])
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next()?.trim();
    (out.status.success() && !first.is_empty()).then(|| first.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_model_and_cores_from_cpuinfo() {
        let x86 = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) \
                   Processor\nflags\t\t: fpu vme\n\nprocessor\t: 1\nmodel name\t: Intel(R) \
                   Xeon(R) Processor\n";
        assert_eq!(
            parse_cpuinfo(x86),
            (Some("Intel(R) Xeon(R) Processor".into()), 2)
        );
        let arm = "processor\t: 0\nBogoMIPS\t: 50.00\nprocessor\t: 1\nprocessor\t: 2\n\
                   Hardware\t: BCM2835\n";
        assert_eq!(parse_cpuinfo(arm), (Some("BCM2835".into()), 3));
        assert_eq!(parse_cpuinfo(""), (None, 0));
        assert_eq!(parse_cpuinfo("model name\t:\n"), (None, 0));
    }

    #[test]
    fn load_average_and_dates() {
        assert_eq!(parse_loadavg("3.77 4.57 3.77 3/512 27561\n"), Some(3.77));
        assert_eq!(parse_loadavg(""), None);
        let check = |secs: u64, want: &str| assert_eq!(utc_timestamp(secs), want, "{secs}");
        check(0, "1970-01-01T00:00:00Z");
        check(951_782_400, "2000-02-29T00:00:00Z");
        check(1_709_251_199, "2024-02-29T23:59:59Z");
        check(1_735_787_045, "2025-01-02T03:04:05Z");
        check(4_107_542_400, "2100-03-01T00:00:00Z");
    }
}
