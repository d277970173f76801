//! Behaviour of `StopCriteria`.

use charrnn_sampling::{StopCriteria, StopReason};

#[test]
fn stop_conditions() {
    let criteria = StopCriteria::new(10)
        .with_eos(3)
        .with_stop_string("\n\n")
        .with_stop_string("")
        .with_stop_string("THE END");
    let check = |last_id: u32, len: usize, text: &str, expected: Option<StopReason>| {
        assert_eq!(
            criteria.check(last_id, len, text),
            expected,
            "{last_id} {len} {text:?}"
        );
    };
    check(1, 1, "a", None);
    check(1, 9, "abc\n", None);
    check(3, 1, "a", Some(StopReason::Eos));
    check(1, 5, "abc\n\n", Some(StopReason::StopString(0)));
    check(1, 5, "…THE END", Some(StopReason::StopString(2)));
    check(1, 5, "THE END.", None); // only at the end
    check(1, 10, "abc", Some(StopReason::MaxLen));
    check(1, 11, "abc", Some(StopReason::MaxLen));
    // Precedence: end id, then stop string, then length.
    check(3, 10, "x\n\n", Some(StopReason::Eos));
    check(1, 10, "x\n\n", Some(StopReason::StopString(0)));
    check(1, 0, "", None); // the empty stop string never matches

    let no_eos = StopCriteria::new(3);
    assert_eq!(no_eos.check(0, 2, ""), None);
    assert_eq!(no_eos.check(u32::MAX, 3, ""), Some(StopReason::MaxLen));
    assert_eq!(
        StopCriteria::new(0).check(0, 0, ""),
        Some(StopReason::MaxLen)
    );
}

#[test]
fn strip_stop_string() {
    let criteria = StopCriteria::new(10)
        .with_stop_string("END")
        .with_stop_string("\n");
    assert_eq!(
        criteria.strip_stop_string("abcEND", StopReason::StopString(0)),
        "abc"
    );
    assert_eq!(
        criteria.strip_stop_string("abc\n", StopReason::StopString(1)),
        "abc"
    );
    assert_eq!(
        criteria.strip_stop_string("abc", StopReason::StopString(0)),
        "abc"
    );
    assert_eq!(
        criteria.strip_stop_string("abc", StopReason::StopString(9)),
        "abc"
    );
    assert_eq!(
        criteria.strip_stop_string("abcEND", StopReason::MaxLen),
        "abcEND"
    );
    assert_eq!(
        criteria.strip_stop_string("abcEND", StopReason::Eos),
        "abcEND"
    );
}
