//! Test helpers other crates' tests share (feature `testing`); never in a release build.

use crate::schema::{Category, Gender, Transaction};

/// The first row of the Kaggle training file, as a [`Transaction`].
pub fn sample_transaction() -> Transaction {
    Transaction {
        index: Some(0),
        trans_date_trans_time: "2019-01-01 00:00:18".parse().unwrap(),
        cc_num: 2_703_186_189_652_095,
        merchant: "fraud_Rippin, Kub and Mann".into(),
        category: Category::MiscNet,
        amt: 4.97,
        first: "Jennifer".into(),
        last: "Banks".into(),
        gender: Gender::F,
        street: "561 Perry Cove".into(),
        city: "Moravian Falls".into(),
        state: "NC".into(),
        zip: 28654,
        lat: 36.0788,
        long: -81.1781,
        city_pop: 3495,
        job: "Psychologist, counselling".into(),
        dob: "1988-03-09".parse().unwrap(),
        trans_num: "0b242abb623afc578575680df30655b9".into(),
        unix_time: 1_325_376_018,
        merch_lat: 36.011293,
        merch_long: -82.048315,
        is_fraud: Some(0),
    }
}
