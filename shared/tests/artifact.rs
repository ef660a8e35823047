//! The model file refuses every kind of damage with a message that says which.

use std::path::PathBuf;

use fraud_core::artifact::{Artifact, FORMAT_VERSION};
use fraud_core::model::{GbdtParams, InvalidModel};
use fraud_core::train::{TrainConfig, load_training_data, train};
use fraud_core::{CoreError, ReadMode};

fn trained() -> Artifact {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/kaggle/kaggle_train_sample.csv");
    let data = load_training_data(&path, ReadMode::Strict, &|_| {}).unwrap();
    let config = TrainConfig {
        gbdt: GbdtParams {
            iterations: 20,
            max_depth: 3,
            ..GbdtParams::default()
        },
        ..TrainConfig::default()
    };
    train(&data, &config, &|_, _, _| {}).unwrap().artifact
}

fn load_err(bytes: &[u8]) -> CoreError {
    Artifact::from_bytes(bytes, "model.bin").unwrap_err()
}

#[test]
fn round_trips_and_versions_are_deterministic() {
    let a = trained();
    let bytes = a.to_bytes().unwrap();
    let b = Artifact::from_bytes(&bytes, "model.bin").unwrap();
    assert_eq!(a, b);
    assert!(
        a.model_version.starts_with("gbdt-") && a.model_version.len() == 17,
        "{}",
        a.model_version
    );
    assert_eq!(
        trained().model_version,
        a.model_version,
        "same data and params, same version"
    );
    assert_eq!(a.reference.len(), a.feature_names.len());
    assert!(a.threshold > 0.0 && a.threshold < 1.0);
    assert_eq!(a.training.rows, 422);
    assert_eq!(a.training.fit_rows + a.training.validation_rows, 422);
}

#[test]
fn save_and_load_through_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.bin");
    let a = trained();
    a.save(&path).unwrap();
    assert_eq!(Artifact::load(&path).unwrap(), a);
    let err = Artifact::load(&dir.path().join("absent.bin")).unwrap_err();
    assert!(err.to_string().contains("absent.bin"), "{err}");
}

#[test]
fn every_flipped_byte_is_refused_with_the_right_reason() {
    let bytes = trained().to_bytes().unwrap();
    let flip = |at: usize| {
        let mut b = bytes.clone();
        b[at] ^= 0x01;
        load_err(&b)
    };
    assert!(
        matches!(flip(0), CoreError::WrongMagic { .. }),
        "{}",
        flip(0)
    );
    assert!(
        matches!(flip(8), CoreError::UnsupportedFormat { found, .. } if found == FORMAT_VERSION ^ 1)
    );
    assert!(
        matches!(
            flip(10),
            CoreError::TruncatedModel { .. } | CoreError::CorruptModel { .. }
        ),
        "{}",
        flip(10)
    );
    for at in [18, bytes.len() / 2, bytes.len() - 33, bytes.len() - 1] {
        let err = flip(at);
        assert!(
            matches!(err, CoreError::ChecksumMismatch { .. }),
            "byte {at}: {err}"
        );
        assert!(err.to_string().contains("model.bin") && err.to_string().contains("checksum"));
    }
    // Every single position: always an error, never a panic or a silently different model.
    for at in (0..bytes.len()).step_by(97) {
        assert!(
            Artifact::from_bytes(
                &{
                    let mut b = bytes.clone();
                    b[at] ^= 0x80;
                    b
                },
                "m"
            )
            .is_err(),
            "byte {at}"
        );
    }
}

#[test]
fn truncated_and_foreign_files_are_named() {
    let bytes = trained().to_bytes().unwrap();
    let err = load_err(&bytes[..bytes.len() - 100]);
    assert!(matches!(err, CoreError::TruncatedModel { .. }), "{err}");
    assert!(err.to_string().contains("truncated"));
    assert!(matches!(
        load_err(&bytes[..5]),
        CoreError::TruncatedModel { .. }
    ));
    assert!(matches!(load_err(b""), CoreError::WrongMagic { .. }));
    let err = load_err(b"trans_date_trans_time,cc_num\n");
    assert!(err.to_string().contains("not a fraud model file"), "{err}");
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(load_err(&longer), CoreError::CorruptModel { .. }));
}

#[test]
fn a_model_for_another_feature_set_is_refused() {
    let mut a = trained();
    a.feature_names[3] = "day_of_month".into();
    a.feature_hash = "0".repeat(64);
    let err = load_err(&a.to_bytes().unwrap());
    let message = err.to_string();
    assert!(
        matches!(err, CoreError::FeatureSetMismatch { .. }),
        "{message}"
    );
    assert!(
        message.contains("day_of_month") && message.contains("weekday"),
        "{message}"
    );

    let mut b = trained();
    b.feature_set_version += 1;
    let message = load_err(&b.to_bytes().unwrap()).to_string();
    assert!(message.contains("feature set version"), "{message}");
}

#[test]
fn a_model_with_unsound_trees_is_refused_with_the_tree_at_fault() {
    let mut a = trained();
    a.card_risk.halves[1].trees.depths[0] += 1;
    let err = load_err(&a.to_bytes().unwrap());
    let CoreError::InvalidModel {
        source_name,
        source,
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!(source_name, "model.bin");
    assert!(
        matches!(source, InvalidModel::FirstStage { half: 1, source } if matches!(**source, InvalidModel::DepthMismatch { tree: 0, .. })),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("model.bin: model payload cannot be decoded: first-stage model 1: tree 0: recorded depth"),
        "{err}"
    );
    // The causes stay reachable for callers that walk the chain.
    let cause = std::error::Error::source(&err).and_then(std::error::Error::source);
    assert!(cause.is_some_and(|c| c.to_string().starts_with("tree 0: recorded depth")));
}
