//! Streaming a request's updates in fewer, larger server-sent events.
//!
//! The generation thread sends one update per character of every choice. Writing one event
//! per character costs a JSON body, a write and a wake-up of the client each: with 64
//! streams on a small machine that work, not the model, sets the pace. So after a stream's
//! first character, which goes out at once (time to first character is what a person
//! notices), the stream waits [`STREAM_INTERVAL`] and sends everything that arrived since as
//! one event per choice. A leaf module: it knows only the engine's [`Update`].
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;

use crate::engine::Update;

/// The longest a character waits before it is sent, after a stream's first.
pub(crate) const STREAM_INTERVAL: Duration = Duration::from_millis(20);

/// Merges `updates` in place: consecutive pieces of one choice become one piece, in their
/// order, and each choice keeps its pieces before its `Done`. Updates of other kinds keep
/// their order.
pub(crate) fn merge(updates: Vec<Update>) -> Vec<Update> {
    let mut out: Vec<Update> = Vec::with_capacity(updates.len());
    for u in updates {
        if let Update::Piece { index, text } = &u {
            // The latest piece of this choice, if nothing of this choice came after it.
            let open = out.iter_mut().rev().find_map(|prev| match prev {
                Update::Piece { index: i, text: t } if i == index => Some(Some(t)),
                Update::Done { index: i, .. } if i == index => Some(None),
                _ => None,
            });
            if let Some(Some(t)) = open {
                t.push_str(text);
                continue;
            }
        }
        out.push(u);
    }
    out
}

/// The next batch of updates of a stream: waits for one; when `started` (the stream has sent
/// a character already), also waits [`STREAM_INTERVAL`] and takes everything that arrived
/// meanwhile, merged by [`merge`]. Empty when the channel is closed and drained.
pub(crate) async fn next_batch(
    updates: &mut UnboundedReceiver<Update>,
    started: bool,
) -> Vec<Update> {
    let Some(first) = updates.recv().await else {
        return Vec::new();
    };
    let mut got = vec![first];
    if started && matches!(got[0], Update::Piece { .. }) {
        tokio::time::sleep(STREAM_INTERVAL).await;
    }
    while let Ok(u) = updates.try_recv() {
        got.push(u);
    }
    merge(got)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Finish;

    fn piece(index: usize, text: &str) -> Update {
        Update::Piece {
            index,
            text: text.into(),
        }
    }

    fn done(index: usize) -> Update {
        Update::Done {
            index,
            finish: Finish::Length,
            tokens: 3,
        }
    }

    fn show(updates: &[Update]) -> Vec<String> {
        updates
            .iter()
            .map(|u| match u {
                Update::Piece { index, text } => format!("{index}:{text}"),
                Update::Done { index, .. } => format!("{index}:done"),
                Update::Accepted { .. } => "accepted".into(),
                Update::Refused(m) => format!("refused {m}"),
            })
            .collect()
    }

    #[test]
    fn pieces_of_a_choice_merge_in_order_and_stay_before_its_end() {
        let merged = merge(vec![
            piece(0, "a"),
            piece(1, "x"),
            piece(0, "b"),
            piece(1, "y"),
            done(1),
            piece(0, "c"),
            done(0),
        ]);
        assert_eq!(show(&merged), ["0:abc", "1:xy", "1:done", "0:done"]);
        // After a choice's end nothing merges into its earlier piece.
        let merged = merge(vec![piece(0, "a"), done(0), piece(0, "b")]);
        assert_eq!(show(&merged), ["0:a", "0:done", "0:b"]);
        assert!(merge(Vec::new()).is_empty());
    }

    #[tokio::test]
    async fn a_batch_is_everything_that_arrived_merged() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        tx.send(piece(0, "T")).unwrap();
        tx.send(piece(0, "o")).unwrap();
        let first = next_batch(&mut rx, false).await;
        assert_eq!(show(&first), ["0:To"]);
        tx.send(piece(0, "d")).unwrap();
        tx.send(piece(1, "x")).unwrap();
        tx.send(piece(0, "a")).unwrap();
        tx.send(done(0)).unwrap();
        let later = next_batch(&mut rx, true).await;
        assert_eq!(show(&later), ["0:da", "1:x", "0:done"]);
        drop(tx);
        assert!(
            next_batch(&mut rx, true).await.is_empty(),
            "closed and drained"
        );
    }
}
