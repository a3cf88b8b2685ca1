//! Unit tests of the spool: segment names, sizes and sealing, claims, eviction, the
//! clean-up of temporary files, and the outcomes of the lock and I/O failures a test can
//! provoke on a real directory. Over 500 lines: one test per rule of the spool protocol, kept
//! together so that the rules and their tests read side by side.

use super::*;
use crate::ids::TraceId;
use crate::record::SignalRecord;

fn signal() -> Record {
    Record::Signal(SignalRecord {
        trace_id: TraceId::random(),
        span_id: None,
        time_unix_nano: 1,
        name: "s".into(),
        value: serde_json::json!(1),
        scope: None,
    })
}

fn temp_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "mv37-spool-unit-{name}-{}-{}",
        std::process::id(),
        unix_nanos_now()
    ))
}

#[test]
fn segments_round_trip_and_the_oldest_is_evicted_past_the_bound() {
    let dir = temp_dir("evict");
    let mut spool = Spool::open(&dir, 350).expect("open");
    assert_eq!(spool.write(&[signal(), signal()]).expect("write"), Evicted::default());
    let first = spool.segments().expect("list");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].records, 2);
    assert_eq!(Spool::read(&first[0]).expect("read").records.len(), 2);
    let evicted = spool.write(&[signal(), signal(), signal()]).expect("write");
    assert_eq!(evicted.own_records, 2, "the older segment went");
    let left = spool.segments().expect("list");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].records, 3);
    Spool::remove(&left[0]).expect("remove");
    assert!(spool.segments().expect("list").is_empty());
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn consecutive_writes_share_one_segment_until_it_reaches_its_size() {
    let dir = temp_dir("append");
    let mut spool = Spool::open(&dir, u64::MAX).expect("open").with_segment_bytes(2000);
    for _ in 0..10 {
        spool.write(&[signal(), signal()]).expect("write");
    }
    let segments = spool.segments().expect("list");
    assert!(segments.len() < 5, "{segments:?}");
    assert_eq!(segments.iter().map(|s| s.records).sum::<u64>(), 20);
    assert!(segments.iter().all(|s| s.bytes <= 2000 + 300), "{segments:?}");
    drop(spool);
    let names: Vec<_> = fs::read_dir(&dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    assert!(
        names.iter().all(|n| n.ends_with(".jsonl")),
        "dropping the spool seals its open segment: {names:?}"
    );
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn a_segment_is_claimed_once_and_a_claim_of_a_gone_process_is_taken_again() {
    let dir = temp_dir("claim");
    let mut writer = Spool::open(&dir, u64::MAX).expect("open");
    writer.write(&[signal(), signal(), signal()]).expect("write");
    writer.seal().expect("seal");
    let first = Spool::open(&dir, u64::MAX).expect("open");
    let second = Spool::open(&dir, u64::MAX).expect("open");
    let segment = first.segments().expect("list").remove(0);
    let mut claimed = first.claim(&segment).expect("claim").expect("free");
    assert!(second.claim(&segment).expect("claim").is_none(), "renamed away");
    assert!(
        second.segments().expect("list").is_empty(),
        "a claimed segment is not waiting"
    );
    // A process that lists the claimed file still cannot take it while it is held.
    let mut third = Spool::open(&dir, u64::MAX).expect("open");
    let claims = third.scan().expect("scan");
    assert_eq!(claims.len(), 1);
    assert!(third.take(&claims[0]).expect("take").is_none(), "the claim is held");
    assert_eq!(claimed.read().expect("read").records.len(), 3);
    // The claimer goes away without finishing: its lock goes with it (here: the
    // file is closed without the release that a drop would do).
    claimed.file = None;
    drop(claimed);
    let claims = third.scan().expect("scan");
    let mut again = third.take(&claims[0]).expect("take").expect("a released lock");
    assert_eq!(again.read().expect("read").records.len(), 3);
    assert_eq!(again.finish().expect("finish"), None);
    assert!(third.scan().expect("scan").is_empty());
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn an_open_segment_claimed_by_another_process_loses_no_append() {
    let dir = temp_dir("open-claim");
    let mut writer = Spool::open(&dir, u64::MAX).expect("open");
    writer.write(&[signal(), signal()]).expect("write");
    let reader = Spool::open(&dir, u64::MAX).expect("open");
    let open = reader.segments().expect("list").remove(0);
    let mut claimed = reader.claim(&open).expect("claim").expect("free");
    assert_eq!(claimed.segment().records, 2);
    writer.write(&[signal()]).expect("write goes to a new segment");
    assert_eq!(claimed.read().expect("read").records.len(), 2);
    claimed.finish().expect("finish");
    writer.seal().expect("seal");
    let left = reader.segments().expect("list");
    assert_eq!(left.iter().map(|s| s.records).collect::<Vec<_>>(), vec![1]);
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn malformed_lines_are_described_without_quoting_them() {
    let mut bytes = signal().to_json_line().expect("json").into_bytes();
    bytes.extend_from_slice(b"\n{\"type\":\"signal\",\"secret\":\"4111 1111 1111 1111\"}\n");
    bytes.extend_from_slice(b"{\"note\":\"4111\xff\"}\n{\"v\":1,\"type\":\"sig");
    let contents = parse_segment(&bytes);
    assert_eq!(contents.records.len(), 1);
    let lines: Vec<_> = contents.malformed.iter().map(|(n, _)| *n).collect();
    assert_eq!(lines, vec![2, 3, 4]);
    for (_, reason) in &contents.malformed {
        assert!(!reason.contains("4111"), "{reason}");
    }
    assert!(contents.malformed[1].1.contains("UTF-8"), "{:?}", contents.malformed);
    assert!(
        contents.malformed[2].1.contains("cut short"),
        "{:?}",
        contents.malformed
    );
}

#[test]
fn names_are_classified() {
    assert_eq!(
        classify("segment-00000000000000000001-12x0000abcd-3-n7.jsonl"),
        Some(Kind::Sealed {
            origin: "12x0000abcd".into(),
            records: 7
        })
    );
    assert_eq!(
        classify("segment-00000000000000000001-12x0000abcd-3.open"),
        Some(Kind::Open {
            origin: "12x0000abcd".into()
        })
    );
    assert_eq!(
        classify("segment-00000000000000000001-12x0000abcd-3-n7.jsonl.claimed-9x00000001"),
        Some(Kind::Claimed {
            origin: "12x0000abcd".into(),
            records: 7,
            claimer: "9x00000001".into()
        })
    );
    assert_eq!(
        classify(".segment-00000000000000000001-12x0000abcd-3-n7.jsonl.tmp"),
        Some(Kind::Temporary { pid: Some(12) })
    );
    assert_eq!(classify("segment-1-2x3-4-n5.jsonl.bad"), Some(Kind::Bad));
    assert_eq!(classify("notes.txt"), None);
}

/// The length of one `signal()` line, newline included (its fields have fixed widths).
fn line_len() -> u64 {
    signal().to_json_line().expect("json").len() as u64 + 1
}

fn records_per_segment(spool: &Spool) -> Vec<u64> {
    spool.segments().expect("list").iter().map(|s| s.records).collect()
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    names.sort();
    names
}

fn backdate(path: &Path, by: Duration) {
    let file = OpenOptions::new().write(true).open(path).expect("open");
    file.set_modified(SystemTime::now() - by).expect("set mtime");
}

/// A sealed segment of another writer, with `n` records.
fn sealed_segment_of_another_writer(dir: &Path, n: usize) -> Segment {
    let mut other = Spool::open(dir, u64::MAX).expect("open");
    other.write(&vec![signal(); n]).expect("write");
    let path = other.seal().expect("seal").expect("sealed");
    other
        .segments()
        .expect("list")
        .into_iter()
        .find(|s| s.path == path)
        .expect("listed")
}

#[test]
fn the_defaults_are_the_documented_ones() {
    assert_eq!(DEFAULT_SPOOL_MAX_BYTES, 256 << 20, "docs/SPOOL.md: 256 MiB");
    assert_eq!(DEFAULT_SEGMENT_BYTES, 1 << 20, "docs/SPOOL.md: 1 MiB");
    let dir = temp_dir("defaults");
    let spool = Spool::open(&dir, DEFAULT_SPOOL_MAX_BYTES).expect("open");
    assert_eq!(spool.segment_bytes, DEFAULT_SEGMENT_BYTES);
    assert_eq!(spool.dir(), dir.as_path());
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn segments_are_a_quarter_of_the_bound_at_most() {
    let dir = temp_dir("quarter");
    assert_eq!(Spool::open(&dir, 4000).expect("open").segment_bytes, 1000);
    assert_eq!(
        Spool::open(&dir, u64::MAX).expect("open").segment_bytes,
        DEFAULT_SEGMENT_BYTES
    );
    let bounded = Spool::open(&dir, 4000).expect("open");
    assert_eq!(bounded.with_segment_bytes(10_000).segment_bytes, 1000);
    let bounded = Spool::open(&dir, 4000).expect("open");
    assert_eq!(bounded.with_segment_bytes(600).segment_bytes, 600);
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn a_spool_knows_the_segments_it_wrote() {
    let dir = temp_dir("wrote");
    let mut mine = Spool::open(&dir, u64::MAX).expect("open");
    assert!(
        mine.origin().starts_with(&format!("{}x", std::process::id())),
        "{}",
        mine.origin()
    );
    mine.write(&[signal()]).expect("write");
    mine.seal().expect("seal");
    let theirs = sealed_segment_of_another_writer(&dir, 1);
    let segments = mine.segments().expect("list");
    assert_eq!(segments.len(), 2);
    for segment in &segments {
        assert_eq!(mine.wrote(segment), segment.path != theirs.path, "{segment:?}");
        assert!(file_name(&segment.path).contains(&segment.origin), "{segment:?}");
    }
    assert_eq!(segments.iter().filter(|s| s.origin == mine.origin()).count(), 1);
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn a_segment_is_sealed_before_an_append_would_take_it_past_its_size() {
    let line = line_len();
    // 2.5 lines: the third line would not fit, so it begins the next segment.
    let dir = temp_dir("seal-before");
    let mut spool = Spool::open(&dir, u64::MAX)
        .expect("open")
        .with_segment_bytes(line * 5 / 2);
    for _ in 0..5 {
        spool.write(&[signal()]).expect("write");
    }
    assert_eq!(records_per_segment(&spool), vec![2, 2, 1]);
    drop(spool);
    let _ = fs::remove_dir_all(dir);
    // Exactly two lines: the second fills the segment, which is sealed at once.
    let dir = temp_dir("seal-at");
    let mut spool = Spool::open(&dir, u64::MAX).expect("open").with_segment_bytes(line * 2);
    for _ in 0..5 {
        spool.write(&[signal()]).expect("write");
    }
    let segments = spool.segments().expect("list");
    assert_eq!(segments.iter().map(|s| s.records).collect::<Vec<_>>(), vec![2, 2, 1]);
    assert_eq!(
        segments.iter().map(|s| s.bytes).collect::<Vec<_>>(),
        vec![2 * line, 2 * line, line]
    );
    assert!(file_name(&segments[0].path).ends_with("-n2.jsonl"), "{segments:?}");
    assert!(file_name(&segments[2].path).ends_with(".open"), "{segments:?}");
    drop(spool);
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn segment_names_carry_the_writer_and_a_sequence() {
    let dir = temp_dir("sequence");
    let mut spool = Spool::open(&dir, u64::MAX).expect("open");
    assert_eq!(spool.generation(), 0);
    for expected in 1..=3 {
        spool.write(&[signal()]).expect("write");
        spool.seal().expect("seal").expect("sealed");
        assert_eq!(spool.generation(), expected);
    }
    assert_eq!(spool.seal().expect("seal"), None, "nothing open");
    assert_eq!(spool.generation(), 3);
    let rests: Vec<_> = names_in(&dir)
        .iter()
        .map(|name| {
            let (origin, rest) = split_stem(name).expect("a segment name");
            assert_eq!(origin, spool.origin());
            rest.to_owned()
        })
        .collect();
    assert_eq!(rests, vec!["1-n1.jsonl", "2-n1.jsonl", "3-n1.jsonl"]);
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn an_open_segment_is_sealed_once_it_is_due() {
    let dir = temp_dir("due");
    let mut spool = Spool::open(&dir, u64::MAX).expect("open");
    spool.seal_if_due().expect("nothing open");
    spool.write(&[signal()]).expect("write");
    spool.seal_if_due().expect("seal");
    assert_eq!(spool.generation(), 0, "a fresh segment stays open");
    let open = spool.open.as_mut().expect("open segment");
    open.opened = Instant::now().checked_sub(SEAL_AFTER).expect("uptime");
    spool.seal_if_due().expect("seal");
    assert_eq!(spool.generation(), 1);
    assert!(spool.open.is_none());
    assert!(names_in(&dir)[0].ends_with("-n1.jsonl"));
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn temporary_files_are_removed_once_their_writer_is_gone_or_they_are_old() {
    let dir = temp_dir("temporary");
    fs::create_dir_all(&dir).expect("dir");
    let me = std::process::id();
    let temporary = |pid: u32, n: u32| {
        let path = dir.join(format!(".segment-0000000000000000000{n}-{pid}x00000001-1-n1.jsonl.tmp"));
        fs::write(&path, b"{}\n").expect("write");
        path
    };
    let fresh = temporary(me, 1);
    let four_minutes = temporary(me, 2);
    backdate(&four_minutes, Duration::from_secs(4 * 60));
    let six_minutes = temporary(me, 3);
    backdate(&six_minutes, Duration::from_secs(6 * 60));
    let running = temporary(1, 4);
    let gone = temporary(999_999_999, 5);
    let spool = Spool::open(&dir, u64::MAX).expect("open");
    assert!(spool.segments().expect("list").is_empty());
    assert!(fresh.exists() && four_minutes.exists(), "a live writer's are kept");
    assert!(!six_minutes.exists(), "over five minutes old");
    if cfg!(target_os = "linux") {
        assert!(running.exists(), "pid 1 is running");
        assert!(!gone.exists(), "no process 999999999");
    }
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn redelivery_takes_open_segments_that_are_not_being_written() {
    let dir = temp_dir("scan");
    let mut spool = Spool::open(&dir, u64::MAX).expect("open");
    spool.write(&[signal()]).expect("write");
    let current = spool.open.as_ref().expect("open").path.clone();
    let line = signal().to_json_line().expect("json") + "\n";
    let open_segment = |origin: &str, n: u32| {
        let path = dir.join(format!("segment-0000000000000000000{n}-{origin}-1.open"));
        fs::write(&path, &line).expect("write");
        path
    };
    let mine_earlier = open_segment(&spool.origin.clone(), 1);
    let live = Spool::open(&dir, u64::MAX).expect("open");
    let live_fresh = open_segment(&live.origin, 2);
    let live_idle = open_segment(&live.origin, 3);
    backdate(&live_idle, STALE_OPEN + Duration::from_secs(1));
    let gone = open_segment("999999999x00000001", 4);
    let taken: Vec<_> = spool.scan().expect("scan").into_iter().map(|e| e.path).collect();
    let mut expected = vec![mine_earlier, live_idle];
    if cfg!(target_os = "linux") {
        expected.push(gone);
    }
    assert_eq!(taken, expected, "not {current:?}, not {live_fresh:?}");
    assert_eq!(spool.approx_bytes, 5 * line.len() as u64);
    drop(live);
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn a_writer_claims_others_segments_but_not_its_open_one() {
    let dir = temp_dir("own-open");
    let mut writer = Spool::open(&dir, u64::MAX).expect("open");
    writer.write(&[signal()]).expect("write");
    let theirs = sealed_segment_of_another_writer(&dir, 2);
    let own = writer
        .segments()
        .expect("list")
        .into_iter()
        .find(|s| writer.wrote(s))
        .expect("listed");
    assert!(writer.claim(&own).expect("claim").is_none(), "still being written");
    let claimed = writer.claim(&theirs).expect("claim").expect("free");
    assert_eq!(claimed.waiting_path(), theirs.path.as_path());
    assert_eq!(claimed.segment().records, 2);
    claimed.finish().expect("finish");
    assert!(!theirs.path.exists());
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn a_claim_of_a_vanished_segment_is_none_and_other_failures_are_errors() {
    let dir = temp_dir("claim-errors");
    let spool = Spool::open(&dir, u64::MAX).expect("open");
    let gone = sealed_segment_of_another_writer(&dir, 1);
    Spool::remove(&gone).expect("remove");
    assert!(spool.claim(&gone).expect("not an error").is_none());
    // A directory where a segment should be cannot be opened for writing.
    let odd = sealed_segment_of_another_writer(&dir, 1);
    Spool::remove(&odd).expect("remove");
    fs::create_dir(&odd.path).expect("dir");
    assert!(spool.claim(&odd).is_err());
    fs::remove_dir(&odd.path).expect("remove dir");
    // The claimed name is taken by a directory: the rename fails.
    let blocked = sealed_segment_of_another_writer(&dir, 1);
    let claimed_name = format!("{}.claimed-{}", file_name(&blocked.path), spool.origin());
    fs::create_dir(dir.join(claimed_name)).expect("dir");
    assert!(spool.claim(&blocked).is_err());
    assert!(blocked.path.exists(), "left waiting");
    let _ = fs::remove_dir_all(&dir);
    // The spool's own directory is gone: the rename finds nothing, as when another
    // process renamed the segment first.
    let elsewhere = temp_dir("claim-elsewhere");
    let segment = sealed_segment_of_another_writer(&elsewhere, 1);
    let spool = Spool::open(&dir, u64::MAX).expect("open");
    fs::remove_dir_all(&dir).expect("remove");
    assert!(spool.claim(&segment).expect("not an error").is_none());
    let _ = fs::remove_dir_all(elsewhere);
}

#[test]
fn unreadable_open_segments_are_errors_and_vanished_ones_are_skipped() {
    let dir = temp_dir("open-errors");
    let spool = Spool::open(&dir, u64::MAX).expect("open");
    let name = "segment-00000000000000000001-1x00000001-1.open";
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(dir.join("nowhere"), dir.join(name)).expect("symlink");
        assert!(spool.segments().expect("a dangling name is skipped").is_empty());
        fs::remove_file(dir.join(name)).expect("remove");
    }
    fs::create_dir(dir.join(name)).expect("dir");
    assert!(spool.segments().is_err(), "a directory cannot be read");
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn eviction_removes_unreadable_segments_first_and_counts_other_writers_records() {
    let dir = temp_dir("evict-order");
    let line = line_len();
    let theirs = sealed_segment_of_another_writer(&dir, 2);
    let bad = dir.join("segment-99999999999999999999-1x00000001-1-n2.jsonl.bad");
    fs::write(&bad, vec![b' '; 2 * line as usize]).expect("write");
    let mut spool = Spool::open(&dir, 5 * line - 1).expect("open");
    assert_eq!(spool.write(&[signal()]).expect("write"), Evicted::default());
    assert!(!bad.exists(), "set-aside files go first");
    assert!(theirs.path.exists(), "removing the bad file was enough");
    drop(spool);
    let mut spool = Spool::open(&dir, 3 * line).expect("open");
    let evicted = spool.write(&[signal()]).expect("write");
    assert_eq!(
        evicted,
        Evicted {
            own_records: 0,
            other_records: 2
        }
    );
    assert!(!theirs.path.exists());
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn a_claim_given_up_waits_again_and_a_damaged_one_is_set_aside() {
    let dir = temp_dir("give-back");
    let spool = Spool::open(&dir, u64::MAX).expect("open");
    let segment = sealed_segment_of_another_writer(&dir, 1);
    let claimed = spool.claim(&segment).expect("claim").expect("free");
    assert!(!segment.path.exists());
    drop(claimed);
    assert_eq!(spool.segments().expect("list"), vec![segment.clone()], "dropped");
    let claimed = spool.claim(&segment).expect("claim").expect("free");
    claimed.release().expect("release");
    assert_eq!(spool.segments().expect("list"), vec![segment.clone()], "released");
    // Its waiting name is taken meanwhile: releasing it says so.
    let claimed = spool.claim(&segment).expect("claim").expect("free");
    fs::create_dir_all(segment.path.join("in-the-way")).expect("dir");
    assert!(claimed.release().is_err());
    fs::remove_dir_all(&segment.path).expect("remove dir");
    let _ = fs::remove_dir_all(&dir);

    let dir = temp_dir("damaged");
    let spool = Spool::open(&dir, u64::MAX).expect("open");
    let segment = sealed_segment_of_another_writer(&dir, 1);
    let mut claimed = spool.claim(&segment).expect("claim").expect("free");
    assert_eq!(claimed.read().expect("read").records.len(), 1);
    claimed.set_damaged();
    let bad = claimed.finish().expect("finish").expect("set aside");
    assert_eq!(file_name(&bad), format!("{}.bad", file_name(&segment.path)));
    assert!(bad.exists());
    assert!(spool.segments().expect("list").is_empty());
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn lines_are_counted_whole_and_non_blank() {
    assert_eq!(count_lines(b"a\n\n  \nb\n", false), 2);
    assert_eq!(count_lines(b"a\nb\nxy", false), 2, "a line still being written");
    assert_eq!(count_lines(b"a\nb\nxy", true), 3);
    assert_eq!(count_lines(b"a\nb\n", true), 2);
    assert_eq!(count_lines(b"", true), 0);
}

#[test]
fn a_file_that_is_gone_is_none_and_other_failures_are_errors() {
    assert_eq!(unless_gone(Ok::<_, io::Error>(7)).expect("ok"), Some(7));
    let gone = io::Error::from(io::ErrorKind::NotFound);
    assert_eq!(unless_gone::<u8>(Err(gone)).expect("not an error"), None);
    let failed = io::Error::from(io::ErrorKind::PermissionDenied);
    let error = unless_gone::<u8>(Err(failed)).expect_err("an error");
    assert_eq!(error.kind(), io::ErrorKind::PermissionDenied);
}

#[test]
fn lock_outcomes_are_told_apart() {
    assert_eq!(lock_outcome(Ok(())).expect("held"), Lock::Held);
    assert_eq!(
        lock_outcome(Err(fs4::TryLockError::WouldBlock)).expect("busy"),
        Lock::Busy
    );
    let unsupported = io::Error::from(io::ErrorKind::Unsupported);
    assert_eq!(
        lock_outcome(Err(fs4::TryLockError::Error(unsupported))).expect("unsupported"),
        Lock::Unsupported
    );
    let failed = io::Error::from(io::ErrorKind::PermissionDenied);
    let error = lock_outcome(Err(fs4::TryLockError::Error(failed))).expect_err("an error");
    assert_eq!(error.kind(), io::ErrorKind::PermissionDenied);
}

#[test]
fn without_locks_a_claim_is_taken_again_after_ten_minutes() {
    let claimed = Kind::Claimed {
        origin: "1x00000001".into(),
        records: 1,
        claimer: "2x00000002".into(),
    };
    let minutes_ago = |m: u64| Some(SystemTime::now() - Duration::from_secs(m * 60));
    assert!(claim_may_be_alive(&claimed, minutes_ago(0)));
    assert!(claim_may_be_alive(&claimed, minutes_ago(9)));
    assert!(!claim_may_be_alive(&claimed, minutes_ago(11)));
    let sealed = Kind::Sealed {
        origin: "1x00000001".into(),
        records: 1,
    };
    assert!(!claim_may_be_alive(&sealed, minutes_ago(0)), "not a claim");
}

#[test]
fn invalid_utf8_is_located_by_byte() {
    let contents = parse_segment(b"{\"note\":\"4111\xff\"}\n");
    assert_eq!(contents.malformed, vec![(1, "invalid UTF-8 at byte 14".to_owned())]);
}
