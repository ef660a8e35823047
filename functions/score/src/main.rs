//! The scoring Lambda: tracing, configuration, clients and the model once per cold start, then
//! the router. Under the Lambda runtime (`AWS_LAMBDA_RUNTIME_API` set, also by
//! `cargo lambda watch`) it serves API Gateway events; otherwise plain HTTP on 127.0.0.1:$PORT.

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    fraud_lambda::init_tracing();
    let config = score::settings::from_env()?;
    let app =
        fraud_service::app::build(&config, config.emit_emf.then(score::stdout_emf_sink)).await?;
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        lambda_http::run(app).await
    } else {
        let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
        let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
        tracing::info!("listening on http://{}", listener.local_addr()?);
        axum::serve(listener, app).await?;
        Ok(())
    }
}
