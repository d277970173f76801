//! Every numeric flag's range, in one place: clap value parsers, so a meaningless number is a
//! usage error (exit 2) naming the flag before anything runs. Where a library owns the rule
//! (sampling settings, learning-rate schedules), the parser asks the library, so the same
//! quantity follows the same rule in every subcommand.

use charrnn_model::LrSchedule;
use charrnn_sampling::SamplingConfig;

fn number<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, String> {
    s.trim()
        .parse::<T>()
        .map_err(|_| format!("{s:?} is not {what}"))
}

fn finite(s: &str) -> Result<f64, String> {
    let x: f64 = number(s, "a number")?;
    if x.is_finite() {
        Ok(x)
    } else {
        Err(format!("{s} is not a finite number"))
    }
}

/// A count: an integer of at least 1 (batch sizes, epochs, steps, sizes, windows).
pub fn count(s: &str) -> Result<usize, String> {
    match number::<usize>(s, "a whole number")? {
        0 => Err("must be at least 1".into()),
        n => Ok(n),
    }
}

/// A whole number of at least 0, where 0 has a meaning of its own (keep every checkpoint).
pub fn whole(s: &str) -> Result<usize, String> {
    number::<usize>(s, "a whole number of at least 0")
}

/// [`count`] as a `u64`.
pub fn count_u64(s: &str) -> Result<u64, String> {
    count(s).map(|n| n as u64)
}

/// A finite number above 0 (learning rate, seconds).
pub fn positive(s: &str) -> Result<f64, String> {
    match finite(s)? {
        x if x > 0.0 => Ok(x),
        _ => Err(format!("{s} must be above 0")),
    }
}

/// A learning rate: above 0 and at least float32's smallest normal number (about 1.2e-38),
/// since the weights are float32 (a smaller rate underflows, and the run diverged at once).
pub fn learning_rate(s: &str) -> Result<f64, String> {
    match positive(s)? {
        x if x < f64::from(f32::MIN_POSITIVE) => Err(format!(
            "{s} is below float32's smallest normal number ({:e})",
            f32::MIN_POSITIVE
        )),
        x => Ok(x),
    }
}

/// A finite number of at least 0, where 0 switches the feature off (gradient clipping).
pub fn non_negative(s: &str) -> Result<f64, String> {
    match finite(s)? {
        x if x >= 0.0 => Ok(x),
        _ => Err(format!("{s} must be 0 (off) or above")),
    }
}

/// A number in [0, 1): dropout; a weight average's decay, where 0 switches averaging off.
pub fn below_one(s: &str) -> Result<f64, String> {
    match finite(s)? {
        x if (0.0..1.0).contains(&x) => Ok(x),
        _ => Err(format!("{s} is outside [0, 1)")),
    }
}

/// A fraction strictly between 0 and 1 (the held-out share of the training rows).
pub fn fraction(s: &str) -> Result<f64, String> {
    match finite(s)? {
        x if x > 0.0 && x < 1.0 => Ok(x),
        _ => Err(format!("{s} is outside (0, 1)")),
    }
}

/// The per-epoch learning-rate factor, by the model crate's rule for exponential decay.
pub fn lr_decay(s: &str) -> Result<f64, String> {
    let gamma = finite(s)?;
    LrSchedule::Exponential { gamma }
        .validate()
        .map(|()| gamma)
        .map_err(|_| format!("{s} is outside (0, 1]"))
}

/// The divergence bound's factor: 0 switches it off, else a finite number above 1.
pub fn divergence_factor(s: &str) -> Result<f64, String> {
    match finite(s)? {
        0.0 => Ok(0.0),
        x if x > 1.0 => Ok(x),
        _ => Err(format!("{s} must be 0 (off) or above 1")),
    }
}

fn sampling_rule(s: &str, config: SamplingConfig) -> Result<(), String> {
    config.validate().map_err(|e| format!("{s}: {e}"))
}

/// A sampling temperature, by charrnn-sampling's rule (finite, above 0; 0 is `--greedy`).
pub fn temperature(s: &str) -> Result<f32, String> {
    let t: f32 = number(s, "a number")?;
    if t == 0.0 {
        return Err("temperature 0 is not a distribution: use --greedy for argmax decoding".into());
    }
    sampling_rule(s, SamplingConfig::with_temperature(t)).map(|()| t)
}

/// `train --sample-temperature`: [`temperature`], but 0 points to `generate --greedy`
/// (`train` has no `--greedy`).
pub fn sample_temperature(s: &str) -> Result<f32, String> {
    let t: f32 = number(s, "a number")?;
    if t == 0.0 {
        return Err(
            "temperature 0 is not a distribution: the samples after each epoch need \
                    one above 0 (greedy decoding is `charrnn generate --greedy`)"
                .into(),
        );
    }
    temperature(s)
}

/// A seed: a whole number from 0 to `u64::MAX`. A negative one is refused as a value of
/// `--seed`, not taken for an unknown flag.
pub fn seed(s: &str) -> Result<u64, String> {
    number::<u64>(s, "a whole number")
        .map_err(|_| format!("must be a whole number from 0 to {}", u64::MAX))
}

/// An address to listen on: `ip:port`, or `host:port` with the host resolved (its first IPv4
/// address, else its first address).
pub fn socket_addr(s: &str) -> Result<std::net::SocketAddr, String> {
    use std::net::ToSocketAddrs;
    if let Ok(addr) = s.parse() {
        return Ok(addr);
    }
    let expected = "expected host:port, as 127.0.0.1:8080, [::1]:8080 or localhost:8080";
    let Some((host, port)) = s.rsplit_once(':') else {
        return Err(format!("no port: {expected}"));
    };
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(expected.to_owned());
    }
    let addrs: Vec<_> = s
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host:?}: {e}"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| format!("{host:?} has no address"))
}

/// A CSV delimiter: one ASCII character other than `"` and line breaks, or `tab` / `\t`.
pub fn delimiter(s: &str) -> Result<u8, String> {
    let byte = match s {
        "tab" | "\\t" | "\t" => b'\t',
        _ if s.len() == 1 && s.is_ascii() => s.as_bytes()[0],
        _ => return Err("expected one ASCII character (`;`, `|`), or `tab`".into()),
    };
    if matches!(byte, b'"' | b'\n' | b'\r') {
        return Err("a quote or a line break cannot separate fields".into());
    }
    Ok(byte)
}

/// One temperature of a schedule, by charrnn-sampling's rule.
pub fn schedule_temperature(s: &str) -> Result<f32, String> {
    // Each value is checked alone, so it is checked as a single temperature (a schedule's own
    // rule would call every value its entry 0); clap names the value at fault.
    let t: f32 = number(s, "a number")?;
    if t == 0.0 {
        return Err("temperature 0 is not a distribution: every entry must be above 0".into());
    }
    sampling_rule(s, SamplingConfig::with_temperature(t)).map(|()| t)
}

/// top-k, by charrnn-sampling's rule (at least 1).
pub fn top_k(s: &str) -> Result<usize, String> {
    let k: usize = number(s, "a whole number")?;
    let config = SamplingConfig {
        top_k: Some(k),
        ..SamplingConfig::greedy()
    };
    sampling_rule(s, config).map(|()| k)
}

/// top-p, by charrnn-sampling's rule (in (0, 1]).
pub fn top_p(s: &str) -> Result<f32, String> {
    let p: f32 = number(s, "a number")?;
    let config = SamplingConfig {
        top_p: Some(p),
        ..SamplingConfig::greedy()
    };
    sampling_rule(s, config).map(|()| p)
}

/// min-p, by charrnn-sampling's rule (in [0, 1)).
pub fn min_p(s: &str) -> Result<f32, String> {
    let p: f32 = number(s, "a number")?;
    let config = SamplingConfig {
        min_p: Some(p),
        ..SamplingConfig::greedy()
    };
    sampling_rule(s, config).map(|()| p)
}

/// A device name as `--device` takes it: auto, cpu, cuda (or gpu) or cuda:N. Whether that
/// device is there is checked when it is used; a name that is none of these is a usage error.
pub fn device(s: &str) -> Result<String, String> {
    let lower = s.trim().to_ascii_lowercase();
    let known = matches!(lower.as_str(), "auto" | "cpu" | "cuda" | "gpu")
        || lower
            .strip_prefix("cuda:")
            .is_some_and(|n| n.parse::<usize>().is_ok());
    if known {
        Ok(s.to_owned())
    } else {
        Err("expected auto, cpu, cuda or cuda:N".into())
    }
}

/// The most samples `generate` makes per prompt and temperature: each is a row of one batch
/// in memory, state and logits together.
pub const MAX_SAMPLES: usize = 65_536;

/// Samples per prompt and temperature: at least 1, at most [`MAX_SAMPLES`].
pub fn samples(s: &str) -> Result<usize, String> {
    match count(s)? {
        n if n > MAX_SAMPLES => Err(format!(
            "at most {MAX_SAMPLES} samples per prompt and temperature (run again for more)"
        )),
        n => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_refuses_nan_infinity_and_out_of_range() {
        for bad in ["NaN", "nan", "inf", "-inf", "abc", ""] {
            assert!(positive(bad).is_err(), "{bad}");
            assert!(non_negative(bad).is_err(), "{bad}");
            assert!(below_one(bad).is_err(), "{bad}");
            assert!(fraction(bad).is_err(), "{bad}");
            assert!(lr_decay(bad).is_err(), "{bad}");
            assert!(divergence_factor(bad).is_err(), "{bad}");
            assert!(temperature(bad).is_err(), "{bad}");
            assert!(top_p(bad).is_err(), "{bad}");
            assert!(min_p(bad).is_err(), "{bad}");
        }
        assert!(count("0").is_err() && count("-1").is_err() && count("3").is_ok());
        assert!(whole("-1").is_err() && whole("x").is_err() && whole("0") == Ok(0));
        assert!(positive("0").is_err() && positive("1e-3").is_ok());
        assert!(non_negative("-1").is_err() && non_negative("0").is_ok());
        assert!(below_one("1").is_err() && below_one("0").is_ok());
        assert!(fraction("0").is_err() && fraction("1").is_err() && fraction("0.1").is_ok());
        assert!(lr_decay("0").is_err() && lr_decay("1.5").is_err() && lr_decay("1").is_ok());
        assert!(divergence_factor("1").is_err() && divergence_factor("0").is_ok());
        assert!(temperature("0").is_err() && temperature("-1").is_err());
        assert!(temperature("0.7").is_ok());
        let zero = sample_temperature("0").unwrap_err();
        assert!(zero.contains("generate --greedy"), "{zero}");
        assert!(sample_temperature("-1").is_err() && sample_temperature("0.8").is_ok());
        assert!(seed("-5").unwrap_err().contains("18446744073709551615"));
        assert!(seed("18446744073709551616").is_err() && seed("abc").is_err());
        assert_eq!(seed("18446744073709551615"), Ok(u64::MAX));
        assert!(schedule_temperature("0").is_err() && schedule_temperature("1").is_ok());
        // A schedule's values are checked one by one: no message calls a value "entry 0".
        for bad in ["0", "-2", "inf"] {
            let e = schedule_temperature(bad).unwrap_err();
            assert!(!e.contains("entry 0"), "{bad}: {e}");
        }
        assert!(top_k("0").is_err() && top_k("5").is_ok());
        assert!(top_p("0").is_err() && top_p("1").is_ok());
        assert!(min_p("1").is_err() && min_p("0.1").is_ok());
    }

    #[test]
    fn delimiters_are_one_ascii_character_or_a_tab() {
        assert_eq!(delimiter(";"), Ok(b';'));
        assert_eq!(delimiter("tab"), Ok(b'\t'));
        assert_eq!(delimiter("\\t"), Ok(b'\t'));
        for bad in ["", ";;", "é", "\"", "\n"] {
            assert!(delimiter(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn addresses_are_ip_or_resolved_host_names() {
        let ip: std::net::SocketAddr = "127.0.0.1:8089".parse().unwrap();
        assert_eq!(socket_addr("127.0.0.1:8089"), Ok(ip));
        assert_eq!(socket_addr("[::1]:0").map(|a| a.port()), Ok(0));
        // localhost resolves without a network; its IPv4 address comes first.
        assert_eq!(socket_addr("localhost:8089"), Ok(ip));
        for bad in ["localhost", "localhost:", ":8080", "localhost:99999", "x:y"] {
            assert!(socket_addr(bad).unwrap_err().contains("host:port"), "{bad}");
        }
    }
}
