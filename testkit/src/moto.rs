//! Set-up against the moto server scripts/test.sh starts and names in FRAUD_TEST_MOTO_ENDPOINT.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};

/// Points the AWS SDK at moto. The SDK reads the endpoint and credentials from the environment,
/// as on AWS, so they are set here for the whole test binary; `fraud_aws::sdk_config()` then
/// reaches moto.
pub fn point_sdk_at_moto() {
    let endpoint = std::env::var("FRAUD_TEST_MOTO_ENDPOINT")
        .expect("FRAUD_TEST_MOTO_ENDPOINT names the moto server (scripts/test.sh starts one)");
    // SAFETY: every test of the binary sets the same values before the SDK reads them.
    unsafe {
        std::env::set_var("AWS_ENDPOINT_URL", &endpoint);
        std::env::set_var("AWS_ACCESS_KEY_ID", "test");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
        std::env::set_var("AWS_REGION", "us-east-1");
    }
}

/// A pay-per-request table keyed by the string attribute `key`, as template.yaml makes them.
pub async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str, key: &str) {
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(key)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("an attribute definition"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(key)
                .key_type(KeyType::Hash)
                .build()
                .expect("a key schema"),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("create table {name}: {e:?}"));
}
