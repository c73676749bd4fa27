//! Publish and subscribe with the fastPort library: connect to the demo session, subscribe
//! with a wildcard, publish a sealed message, read it back and wait for its delivery
//! receipt.
//!
//! ```sh
//! npm start                                              # a server on 127.0.0.1:8080
//! cargo run -p fastport-client --example pubsub -- ws://127.0.0.1:8080/ws
//! ```

use std::time::Duration;

use fastport_client::{status_name, Client, Key, Options, Qos};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:8080/ws".to_owned());

    // Members of a session share a key out of band (`fastport key generate`); here one
    // process plays both roles, so a fresh key will do.
    let key = Key::generate()?;
    let options = Options::new(&url, "demo", "demo")?.key(key);
    let client = Client::connect(options).await?;
    println!("connected to {url} as {}", client.client_id());

    let mut sensors = client.subscribe("sensors/+/room1").await?;
    let published = client
        .publish("sensors/temperature/room1", b"21.5", Qos::AtLeastOnce)
        .await?;
    println!("published message {}: the server has it", published.id.0);

    let message = tokio::time::timeout(Duration::from_secs(5), sensors.next())
        .await?
        .ok_or("the client closed")?;
    println!(
        "received on {} from {}: {}",
        message.topic.as_str(),
        message.publisher,
        String::from_utf8_lossy(&message.payload)
    );

    match tokio::time::timeout(Duration::from_secs(5), published.receipt()).await? {
        Some(receipt) => println!(
            "receipt: {} ({} delivered, {} failed)",
            status_name(receipt.status),
            receipt.delivered,
            receipt.failed
        ),
        None => println!("no receipt: the client closed first"),
    }
    client.close().await;
    Ok(())
}
