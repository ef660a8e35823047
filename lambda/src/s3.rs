//! S3 notifications, typed with `aws_lambda_events`: the objects an event names, keys decoded,
//! and refused when the event comes from another bucket than the one the function reads.

use aws_lambda_events::s3::S3Event;

/// An object named by an S3 notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Object {
    pub bucket: String,
    /// The object key, URL-decoded (S3 events encode keys: `+` for a space, `%2C` for a comma).
    pub key: String,
    pub etag: Option<String>,
    /// Orders the events of one key: a redelivered event repeats it, a new upload does not.
    pub sequencer: Option<String>,
}

/// An S3 notification the function will not act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("not an S3 notification ({{\"Records\": [{{\"s3\": ...}}]}}): {reason}")]
    Malformed { reason: String },
    #[error("S3 event record {index} has no {field}")]
    Missing { index: usize, field: &'static str },
    #[error(
        "the S3 event names bucket {event_bucket:?} but this function reads bucket {reads:?} (FRAUD_BUCKET): refused, the object would be read from the wrong bucket"
    )]
    OtherBucket { event_bucket: String, reads: String },
}

/// The objects of `event` when it is an S3 notification (it has `Records`), `None` for any
/// other event (a direct invocation). `reads` is the bucket the function reads, when it has
/// one (a local directory stands in for any bucket): an event from another bucket is refused.
pub fn s3_objects(
    event: &serde_json::Value,
    reads: Option<&str>,
) -> Result<Option<Vec<S3Object>>, EventError> {
    if event.get("Records").is_none() {
        return Ok(None);
    }
    let parsed: S3Event =
        serde_json::from_value(event.clone()).map_err(|e| EventError::Malformed {
            reason: e.to_string(),
        })?;
    let mut objects = Vec::with_capacity(parsed.records.len());
    for (index, record) in parsed.records.into_iter().enumerate() {
        let missing = |field| EventError::Missing { index, field };
        let bucket = record.s3.bucket.name.ok_or(missing("s3.bucket.name"))?;
        let key = record.s3.object.key.ok_or(missing("s3.object.key"))?;
        if let Some(reads) = reads
            && reads != bucket
        {
            return Err(EventError::OtherBucket {
                event_bucket: bucket,
                reads: reads.to_owned(),
            });
        }
        objects.push(S3Object {
            bucket,
            key: url_decode(&key),
            etag: record.s3.object.e_tag,
            sequencer: record.s3.object.sequencer,
        });
    }
    Ok(Some(objects))
}

/// Decodes an S3 event key (`application/x-www-form-urlencoded`).
fn url_decode(text: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| Some(hex(*bytes.get(i + 1)?)? << 4 | hex(*bytes.get(i + 2)?)?))
            .flatten();
        match (bytes[i], escaped) {
            (_, Some(b)) => {
                out.push(b);
                i += 2;
            }
            (b'+', None) => out.push(b' '),
            (b, None) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed SAM event (`sam local generate-event s3 put`) with `bucket` and `key`.
    fn event(bucket: &str, key: &str) -> serde_json::Value {
        let mut event: serde_json::Value = serde_json::from_str(include_str!(
            "../../functions/train/tests/fixtures/s3_put_training.json"
        ))
        .unwrap();
        let s3 = &mut event["Records"][0]["s3"];
        s3["bucket"]["name"] = bucket.into();
        s3["object"]["key"] = key.into();
        s3["object"]["eTag"] = "abc".into();
        s3["object"]["sequencer"] = "0A1".into();
        event
    }

    #[test]
    fn s3_event_keys_are_decoded() {
        let objects = s3_objects(&event("b", "training/fraud+Train%2C2.csv"), Some("b")).unwrap();
        assert_eq!(
            objects,
            Some(vec![S3Object {
                bucket: "b".into(),
                key: "training/fraud Train,2.csv".into(),
                etag: Some("abc".into()),
                sequencer: Some("0A1".into()),
            }])
        );
        assert_eq!(url_decode("a%zzb%2"), "a%zzb%2");
        assert_eq!(url_decode("caf%C3%A9"), "café");
        assert_eq!(
            s3_objects(&serde_json::json!({"train_key": "x"}), None),
            Ok(None)
        );
    }

    #[test]
    fn an_event_from_another_bucket_is_refused_naming_both() {
        let err =
            s3_objects(&event("their-bucket", "training/a.csv"), Some("our-bucket")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("their-bucket") && text.contains("our-bucket"),
            "{text}"
        );
        // A directory standing in for the bucket reads any event's objects.
        assert!(s3_objects(&event("their-bucket", "k"), None).is_ok());
    }

    #[test]
    fn malformed_records_are_named() {
        let err = s3_objects(&serde_json::json!({"Records": 3}), None).unwrap_err();
        assert!(matches!(err, EventError::Malformed { .. }), "{err}");
        let mut no_bucket = event("b", "k");
        no_bucket["Records"][0]["s3"]["bucket"]
            .as_object_mut()
            .unwrap()
            .remove("name");
        let err = s3_objects(&no_bucket, None).unwrap_err();
        assert_eq!(
            err,
            EventError::Missing {
                index: 0,
                field: "s3.bucket.name"
            }
        );
    }
}
