//! Codec tests: golden bytes pin the documented layout, samples round-trip, and (natively)
//! property tests show that no input panics the decoder.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use bytes::Bytes;

use super::*;

pub(crate) fn samples() -> Vec<Frame> {
    let config = SessionConfig {
        retry_interval_ms: Some(2_000),
        max_retries: Some(5),
        expiry_ms: Some(60_000),
        max_message_size: Some(65_536),
        max_connections: Some(1_000),
        max_subscriptions: Some(100),
        max_pending: Some(1_000),
        slow_consumer_policy: Some(SlowConsumerPolicy::DropOldest),
        max_cache_bytes: Some(1 << 26),
    };
    vec![
        Frame::Hello(Hello {
            resume: true,
            admin_only: false,
            batch: true,
            keepalive_ms: 15_000,
            session: "demo".into(),
            password: "pässword".into(),
            client_id: "alice".into(),
            resume_token: "0f1e2d3c4b5a69788796a5b4c3d2e1f0".into(),
            display_name: "Alice".into(),
        }),
        Frame::Welcome(Welcome {
            session_present: true,
            batch: true,
            client_id: "alice".into(),
            resume_token: "0f1e2d3c4b5a69788796a5b4c3d2e1f0".into(),
            keepalive_ms: 15_000,
            config,
        }),
        Frame::Error(ErrorFrame {
            code: ErrorCode::BAD_CREDENTIALS,
            ref_id: 0,
            message: "wrong password for session `demo`".into(),
        }),
        Frame::Subscribe(Subscribe {
            request_id: 1,
            presence: true,
            filter: "chat/+".into(),
        }),
        Frame::SubAck(Ack {
            id: 1,
            code: ErrorCode::OK,
        }),
        Frame::Unsubscribe(Unsubscribe {
            request_id: 2,
            filter: "chat/+".into(),
        }),
        Frame::UnsubAck(Ack {
            id: 2,
            code: ErrorCode::INVALID_FILTER,
        }),
        Frame::Publish(Publish {
            qos: Qos::AtLeastOnce,
            message_id: 300,
            topic: "chat/lobby".into(),
            payload: Bytes::from_static(&[1, 0, b'h', b'i']),
        }),
        Frame::Publish(Publish {
            qos: Qos::AtMostOnce,
            message_id: 0,
            topic: "t".into(),
            payload: Bytes::new(),
        }),
        Frame::PubAck(Ack {
            id: 300,
            code: ErrorCode::OK,
        }),
        Frame::Deliver(Deliver {
            qos: Qos::AtLeastOnce,
            delivery_id: u64::MAX,
            attempt: 3,
            topic: "chat/lobby".into(),
            publisher: "bob".into(),
            payload: Bytes::from_static(&[1, 1, 0, 9, 9]),
        }),
        Frame::DeliverAck { delivery_id: 77 },
        Frame::DeliverNack {
            delivery_id: 78,
            reason: NackReason::Rejected,
        },
        Frame::DeliverNack {
            delivery_id: 79,
            reason: NackReason::Other(200),
        },
        Frame::Receipt(Receipt {
            message_id: 300,
            status: ReceiptStatus::RetriesExhausted,
            delivered: 2,
            failed: 1,
        }),
        Frame::Presence(Presence {
            filter: "chat/lobby".into(),
            kind: PresenceKind::Snapshot,
            members: vec![
                Member {
                    client_id: "alice".into(),
                    display_name: "Alice".into(),
                },
                Member {
                    client_id: "bob".into(),
                    display_name: String::new(),
                },
            ],
        }),
        Frame::Ping { nonce: 5 },
        Frame::Pong { nonce: 5 },
        Frame::Admin(AdminRequest {
            request_id: 9,
            session: "team".into(),
            credential: "admin-token".into(),
            op: AdminOp::Create {
                password: "pw".into(),
                secret: "s3cret".into(),
                config: SessionConfig {
                    max_retries: Some(3),
                    ..SessionConfig::default()
                },
            },
        }),
        Frame::Admin(AdminRequest {
            request_id: 10,
            session: "team".into(),
            credential: "s3cret".into(),
            op: AdminOp::Configure(SessionConfig {
                expiry_ms: Some(1),
                ..SessionConfig::default()
            }),
        }),
        Frame::Admin(AdminRequest {
            request_id: 11,
            session: "team".into(),
            credential: "s3cret".into(),
            op: AdminOp::Suspend,
        }),
        Frame::AdminResult(AdminResult {
            request_id: 9,
            code: ErrorCode::OK,
            message: String::new(),
            config,
        }),
    ]
}

#[test]
fn every_sample_frame_round_trips_with_the_predicted_length() {
    for frame in samples() {
        let bytes = frame.encode();
        assert_eq!(bytes.len(), frame.encoded_len(), "{}", frame.name());
        assert_eq!(Frame::decode(bytes).as_ref(), Ok(&frame));
    }
}

#[test]
fn clients_encode_exactly_the_frames_they_send() {
    for frame in samples() {
        let name = frame.name();
        let sent_by_client = matches!(
            name,
            "hello"
                | "subscribe"
                | "unsubscribe"
                | "publish"
                | "deliver_ack"
                | "deliver_nack"
                | "ping"
                | "pong"
                | "admin"
        );
        let expected = sent_by_client.then(|| frame.encode());
        assert_eq!(frame.encode_client_frame(), expected, "{name}");
    }
}

#[test]
fn each_side_decodes_the_frames_of_its_peer_and_refuses_its_own() {
    for frame in samples() {
        let name = frame.name();
        let bytes = frame.encode();
        let from_client = Frame::decode_from_client(bytes.clone());
        let from_server = Frame::decode_from_server(bytes.clone());
        let wrong = Err(DecodeError::WrongDirection(bytes[0]));
        match name {
            "ping" | "pong" => {
                assert_eq!(from_client.as_ref(), Ok(&frame), "{name}");
                assert_eq!(from_server.as_ref(), Ok(&frame), "{name}");
            }
            "hello" | "subscribe" | "unsubscribe" | "publish" | "deliver_ack" | "deliver_nack"
            | "admin" => {
                assert_eq!(from_client.as_ref(), Ok(&frame), "{name}");
                assert_eq!(from_server, wrong, "{name}");
            }
            _ => {
                assert_eq!(from_server.as_ref(), Ok(&frame), "{name}");
                assert_eq!(from_client, wrong, "{name}");
            }
        }
    }
    // Errors other than the direction are the same as `decode`'s.
    assert_eq!(
        Frame::decode_from_server(Bytes::new()),
        Err(DecodeError::Empty)
    );
    assert_eq!(
        Frame::decode_from_client(Bytes::from_static(&[0x7f])),
        Err(DecodeError::UnknownFrameType(0x7f))
    );
    assert_eq!(
        Frame::decode_from_server(Bytes::from_static(&[0x09, 0x01])),
        Err(DecodeError::Truncated { field: "code" })
    );
}

#[test]
fn hello_has_the_documented_layout() {
    let frame = Frame::Hello(Hello {
        resume: true,
        admin_only: false,
        batch: false,
        keepalive_ms: 300,
        session: "demo".into(),
        password: "pw".into(),
        client_id: "c1".into(),
        resume_token: String::new(),
        display_name: String::new(),
    });
    let expected: &[u8] = &[
        0x01, 0x01, 0x01, 0xac, 0x02, 4, b'd', b'e', b'm', b'o', 2, b'p', b'w', 2, b'c', b'1', 0, 0,
    ];
    assert_eq!(&frame.encode()[..], expected);
}

#[test]
fn publish_has_the_documented_layout_and_the_payload_is_the_rest() {
    let frame = Frame::Publish(Publish {
        qos: Qos::AtLeastOnce,
        message_id: 1,
        topic: "a/b".into(),
        payload: Bytes::from_static(b"xyz"),
    });
    let expected: &[u8] = &[0x08, 0x01, 0x01, 3, b'a', b'/', b'b', b'x', b'y', b'z'];
    assert_eq!(&frame.encode()[..], expected);
}

#[test]
fn deliver_and_receipt_have_the_documented_layout() {
    let deliver = Frame::Deliver(Deliver {
        qos: Qos::AtLeastOnce,
        delivery_id: 128,
        attempt: 1,
        topic: "t".into(),
        publisher: "p".into(),
        payload: Bytes::from_static(b"!"),
    });
    let expected: &[u8] = &[0x0a, 0x01, 0x80, 0x01, 0x01, 1, b't', 1, b'p', b'!'];
    assert_eq!(&deliver.encode()[..], expected);
    let receipt = Frame::Receipt(Receipt {
        message_id: 2,
        status: ReceiptStatus::Delivered,
        delivered: 3,
        failed: 0,
    });
    assert_eq!(&receipt.encode()[..], &[0x0d, 2, 1, 3, 0]);
}

#[test]
fn an_unknown_protocol_version_is_reported_as_such() {
    let mut bytes = Frame::Hello(Hello::default()).encode().to_vec();
    bytes[1] = 9;
    let err = Frame::decode(Bytes::from(bytes));
    assert_eq!(err, Err(DecodeError::UnsupportedVersion(9)));
    assert_eq!(
        DecodeError::UnsupportedVersion(9).code(),
        ErrorCode::UNSUPPORTED_VERSION
    );
}

#[test]
fn malformed_messages_get_specific_errors() {
    let cases: &[(&[u8], DecodeError)] = &[
        (&[], DecodeError::Empty),
        (&[0x7f], DecodeError::UnknownFrameType(0x7f)),
        (&[0x0f], DecodeError::Truncated { field: "nonce" }),
        (&[0x0f, 1, 2], DecodeError::TrailingBytes { count: 1 }),
        (&[0x08, 2, 1, 0], DecodeError::InvalidValue { field: "qos" }),
        (
            &[0x04, 1, 0x80, 0],
            DecodeError::InvalidFlags {
                field: "flags",
                value: 0x80,
            },
        ),
        (
            &[0x0e, 0, 7, 0],
            DecodeError::InvalidValue { field: "kind" },
        ),
        (
            &[0x0e, 0, 0, 100, 0],
            DecodeError::Truncated { field: "members" },
        ),
        (
            &[0x11, 1, 99, 0, 0],
            DecodeError::InvalidValue { field: "op" },
        ),
        (
            &[0x0b, 0x80, 0x00],
            DecodeError::NonCanonicalVarint {
                field: "delivery_id",
            },
        ),
    ];
    for (bytes, expected) in cases {
        assert_eq!(
            Frame::decode(Bytes::copy_from_slice(bytes)).as_ref(),
            Err(expected)
        );
    }
}

#[test]
fn unknown_config_tags_are_skipped() {
    // Welcome with two config entries: unknown tag 99 and max_retries = 4.
    let bytes: &[u8] = &[0x02, 1, 0, 1, b'c', 0, 10, 2, 99, 5, 2, 4];
    let Ok(Frame::Welcome(w)) = Frame::decode(Bytes::copy_from_slice(bytes)) else {
        panic!("welcome did not decode");
    };
    assert_eq!(
        w.config,
        SessionConfig {
            max_retries: Some(4),
            ..SessionConfig::default()
        }
    );
}

#[test]
fn decoded_payloads_share_the_message_buffer() {
    let frame = Frame::Publish(Publish {
        qos: Qos::AtMostOnce,
        message_id: 0,
        topic: "t".into(),
        payload: Bytes::from(vec![7u8; 1024]),
    });
    let bytes = frame.encode();
    let start = bytes.as_ptr() as usize;
    let Ok(Frame::Publish(p)) = Frame::decode(bytes.clone()) else {
        panic!("decode failed")
    };
    let at = p.payload.as_ptr() as usize;
    assert!(at > start && at < start + bytes.len(), "payload was copied");
}

#[test]
fn debug_output_never_shows_passwords_secrets_or_credentials() {
    let hello = Frame::Hello(Hello {
        session: "demo".into(),
        password: "hunter2-password".into(),
        client_id: "alice".into(),
        ..Hello::default()
    });
    let create = Frame::Admin(AdminRequest {
        request_id: 1,
        session: "demo".into(),
        credential: "admin-token-value".into(),
        op: AdminOp::Create {
            password: "new-session-password".into(),
            secret: "new-session-secret".into(),
            config: SessionConfig::default(),
        },
    });
    let rotate = Frame::Admin(AdminRequest {
        request_id: 2,
        session: "demo".into(),
        credential: "current-secret-value".into(),
        op: AdminOp::Rotate {
            password: "rotated-password".into(),
            secret: "rotated-secret".into(),
        },
    });
    for (frame, secrets) in [
        (hello, &["hunter2-password"][..]),
        (
            rotate,
            &["current-secret-value", "rotated-password", "rotated-secret"][..],
        ),
        (
            create,
            &[
                "admin-token-value",
                "new-session-password",
                "new-session-secret",
            ][..],
        ),
    ] {
        let shown = format!("{frame:?} {frame:#?}");
        for secret in secrets {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("<redacted, "), "{shown}");
        assert!(shown.contains("demo"), "the rest is still shown: {shown}");
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod properties {
    use proptest::prelude::*;

    use super::*;

    fn text() -> impl Strategy<Value = String> {
        "\\PC{0,12}"
    }

    fn config() -> impl Strategy<Value = SessionConfig> {
        (
            proptest::option::of(any::<u64>()),
            proptest::option::of(any::<u32>()),
            proptest::option::of(any::<u64>()),
            proptest::option::of(any::<u32>()),
            proptest::option::of(prop_oneof![
                Just(SlowConsumerPolicy::Disconnect),
                Just(SlowConsumerPolicy::DropOldest)
            ]),
        )
            .prop_map(|(r, m, e, s, p)| SessionConfig {
                retry_interval_ms: r,
                max_retries: m,
                expiry_ms: e,
                max_message_size: s,
                max_connections: m,
                max_subscriptions: s,
                max_pending: m,
                slow_consumer_policy: p,
                max_cache_bytes: s,
            })
    }

    fn frame() -> impl Strategy<Value = Frame> {
        let payload = proptest::collection::vec(any::<u8>(), 0..64).prop_map(Bytes::from);
        let qos = prop_oneof![Just(Qos::AtMostOnce), Just(Qos::AtLeastOnce)];
        prop_oneof![
            (
                any::<u8>(),
                any::<u64>(),
                text(),
                text(),
                text(),
                text(),
                text()
            )
                .prop_map(
                    |(
                        flags,
                        keepalive_ms,
                        session,
                        password,
                        client_id,
                        resume_token,
                        display_name,
                    )| {
                        Frame::Hello(Hello {
                            resume: flags & 1 != 0,
                            admin_only: flags & 2 != 0,
                            batch: flags & 4 != 0,
                            keepalive_ms,
                            session,
                            password,
                            client_id,
                            resume_token,
                            display_name,
                        })
                    }
                ),
            (any::<u8>(), text(), text(), any::<u64>(), config()).prop_map(
                |(p, c, t, k, config)| Frame::Welcome(Welcome {
                    session_present: p & 1 != 0,
                    batch: p & 2 != 0,
                    client_id: c,
                    resume_token: t,
                    keepalive_ms: k,
                    config,
                })
            ),
            (any::<u16>(), any::<u64>(), text()).prop_map(|(c, r, m)| Frame::Error(ErrorFrame {
                code: ErrorCode(c),
                ref_id: r,
                message: m
            })),
            (qos.clone(), any::<u64>(), text(), payload.clone()).prop_map(|(q, id, t, p)| {
                Frame::Publish(Publish {
                    qos: q,
                    message_id: id,
                    topic: t,
                    payload: p,
                })
            }),
            (qos, any::<u64>(), any::<u32>(), text(), text(), payload).prop_map(
                |(qos, delivery_id, attempt, topic, publisher, payload)| {
                    Frame::Deliver(Deliver {
                        qos,
                        delivery_id,
                        attempt,
                        topic,
                        publisher,
                        payload,
                    })
                }
            ),
            (any::<u64>(), any::<u8>(), any::<u32>(), any::<u32>()).prop_map(|(m, s, d, f)| {
                Frame::Receipt(Receipt {
                    message_id: m,
                    status: ReceiptStatus::from_wire_for_tests(s),
                    delivered: d,
                    failed: f,
                })
            }),
            (any::<u64>(), text(), text(), config()).prop_map(|(id, s, c, config)| {
                Frame::Admin(AdminRequest {
                    request_id: id,
                    session: s,
                    credential: c,
                    op: AdminOp::Configure(config),
                })
            }),
            (text(), proptest::collection::vec((text(), text()), 0..4)).prop_map(|(f, m)| {
                Frame::Presence(Presence {
                    filter: f,
                    kind: PresenceKind::Join,
                    members: m
                        .into_iter()
                        .map(|(client_id, display_name)| Member {
                            client_id,
                            display_name,
                        })
                        .collect(),
                })
            }),
            any::<u64>().prop_map(|nonce| Frame::Ping { nonce }),
            any::<u64>().prop_map(|delivery_id| Frame::DeliverAck { delivery_id }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn random_bytes_decode_to_a_frame_or_an_error_never_a_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..256)
        ) {
            let bytes = Bytes::from(bytes);
            let any = Frame::decode(bytes.clone());
            // The directional decoders agree with `decode` on every frame they accept.
            let directed = [Frame::decode_from_client(bytes.clone()), Frame::decode_from_server(bytes)];
            for frame in directed.into_iter().flatten() {
                prop_assert_eq!(any.as_ref(), Ok(&frame));
            }
        }

        #[test]
        fn the_publish_decoder_agrees_with_the_frame_decoder(
            publish in any::<bool>(), bytes in proptest::collection::vec(any::<u8>(), 0..64)
        ) {
            // Half of the inputs start as a publish does.
            let mut bytes = bytes;
            if publish {
                bytes.insert(0, 0x08);
            }
            let message = Bytes::from(bytes);
            let frame = Frame::decode_from_client(message.clone());
            match (frame, Frame::decode_publish(&message)) {
                (_, None) => prop_assert_ne!(message.first(), Some(&0x08)),
                (Ok(Frame::Publish(p)), Some(Ok(r))) => {
                    prop_assert_eq!(r.payload.as_ptr(), p.payload.as_ptr(), "not copied");
                    prop_assert_eq!(p.as_publish_ref(), r);
                }
                (Err(e), Some(Err(r))) => prop_assert_eq!(e, r),
                (frame, publish) => prop_assert!(false, "{:?} vs {:?}", frame, publish),
            }
        }

        #[test]
        fn mutated_valid_frames_never_panic_the_decoder(
            index in 0usize..22, pos in any::<usize>(), byte in any::<u8>(), cut in any::<usize>()
        ) {
            let samples = samples();
            let mut bytes = samples[index % samples.len()].encode().to_vec();
            let at = pos % bytes.len();
            bytes[at] = byte;
            bytes.truncate(cut % (bytes.len() + 1));
            let _ = Frame::decode(Bytes::from(bytes));
        }

        #[test]
        fn arbitrary_frames_round_trip(frame in frame()) {
            let bytes = frame.encode();
            prop_assert_eq!(bytes.len(), frame.encoded_len());
            if let Some(client_bytes) = frame.encode_client_frame() {
                prop_assert_eq!(&client_bytes, &bytes);
            }
            prop_assert_eq!(Frame::decode(bytes), Ok(frame));
        }
    }
}

#[test]
fn a_publish_decodes_in_place_with_its_topic_borrowed_from_the_message() {
    let publish = Publish {
        qos: Qos::AtLeastOnce,
        message_id: 300,
        topic: "a/b".into(),
        payload: Bytes::from_static(b"sealed"),
    };
    let message = Frame::Publish(publish.clone()).encode();
    let decoded = Frame::decode_publish(&message)
        .expect("a publish")
        .expect("valid");
    assert_eq!(decoded, publish.as_publish_ref());
    // Type, qos, message id (two bytes), topic length: the topic follows.
    assert_eq!(
        decoded.topic.as_ptr(),
        message[5..].as_ptr(),
        "a slice, not a copy"
    );
    assert_eq!(
        Frame::decode_publish(&Frame::Ping { nonce: 1 }.encode()),
        None
    );
    let mut bad = message.to_vec();
    bad[5] = 0xff;
    assert_eq!(
        Frame::decode_publish(&Bytes::from(bad)),
        Some(Err(DecodeError::InvalidUtf8 { field: "topic" }))
    );
}

#[test]
fn a_deliver_encoded_from_its_parts_is_the_frame_s_encoding() {
    for (qos, delivery_id, attempt, topic, publisher, payload) in [
        (Qos::AtMostOnce, 0, 1, "a", "", &b""[..]),
        (
            Qos::AtLeastOnce,
            300,
            2,
            "sensors/temp/room1",
            "pub-1",
            &b"sealed"[..],
        ),
        (
            Qos::AtLeastOnce,
            u64::MAX,
            u32::MAX,
            "x/y",
            "ü",
            &[7u8; 200][..],
        ),
    ] {
        let frame = Frame::Deliver(Deliver {
            qos,
            delivery_id,
            attempt,
            topic: topic.into(),
            publisher: publisher.into(),
            payload: Bytes::copy_from_slice(payload),
        });
        let parts = Frame::encode_deliver(qos, delivery_id, attempt, topic, publisher, payload);
        assert_eq!(parts, frame.encode());
    }
}
