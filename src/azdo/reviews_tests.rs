use super::*;

#[test]
fn inline_anchors_get_a_leading_slash_and_one_based_offsets() {
    let thread = NewThread {
        content: "x".into(),
        anchor: Some(Anchor {
            path: "src/lib.rs".into(),
            start_line: 4,
            end_line: 6,
        }),
        status: ThreadStatus::Active,
        key: None,
        iteration: Some(ThreadIteration {
            iteration: 2,
            change_tracking_id: 7,
        }),
        mark: None,
    };
    let body = thread_body(&thread).unwrap();
    assert_eq!(
        body["threadContext"],
        json!({"filePath": "/src/lib.rs", "rightFileStart": {"line": 4, "offset": 1}, "rightFileEnd": {"line": 6, "offset": 1}})
    );
    assert_eq!(
        body["pullRequestThreadContext"],
        json!({"changeTrackingId": 7, "iterationContext": {"firstComparingIteration": 1, "secondComparingIteration": 2}})
    );
}

#[test]
fn anchors_that_would_land_nowhere_are_refused() {
    for (path, start, end) in [
        ("", 1, 1),
        ("src/x.rs", 0, 1),
        ("src/x.rs", 5, 4),
        ("../etc/passwd", 1, 1),
    ] {
        let thread = NewThread {
            content: "x".into(),
            anchor: Some(Anchor {
                path: path.into(),
                start_line: start,
                end_line: end,
            }),
            status: ThreadStatus::Active,
            key: None,
            iteration: None,
            mark: None,
        };
        assert!(
            matches!(thread_body(&thread), Err(AzdoError::Invalid(_))),
            "{path} {start} {end}"
        );
    }
}
