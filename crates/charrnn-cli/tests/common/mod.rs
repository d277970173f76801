//! What several of the CLI's test binaries share.

/// Eight AG News-like titles with their class (1 to 4): a data set small enough to train on
/// in a test.
pub const TITLES: &[(u8, &str)] = &[
    (1, "Leaders meet for talks on trade"),
    (2, "Team wins the cup final at home"),
    (3, "Stocks rally as oil prices fall"),
    (4, "New chip doubles battery life"),
    (1, "Talks on trade stall in Geneva"),
    (2, "Star striker signs for the club"),
    (3, "Oil prices fall as stocks rally"),
    (4, "Space probe sends back pictures"),
];
