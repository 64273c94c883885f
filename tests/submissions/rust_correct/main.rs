// main runs itself twice: the producer's stdout is piped into the consumer's stdin.
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

fn log(who: &str, text: &str) {
    let mut f = OpenOptions::new().append(true).create(true).open("execution_log.txt").unwrap();
    f.lock().unwrap();
    writeln!(f, "[{who} {}] {text}", std::process::id()).unwrap();
    f.unlock().unwrap();
}

fn main() {
    let role = std::env::args().nth(1).unwrap_or_default();
    match role.as_str() {
        "producer" => {
            let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
            let mut values: Vec<u64> = (1..=500).collect();
            let mut x = seed | 1;
            for i in (1..values.len()).rev() {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                values.swap(i, (x % (i as u64 + 1)) as usize);
            }
            let mut out = std::io::stdout().lock();
            for v in &values[..12] {
                if writeln!(out, "{v}").and_then(|_| out.flush()).is_err() {
                    log("producer", "broken pipe");
                    std::process::exit(3);
                }
                log("producer", &format!("sent {v}"));
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        "consumer" => {
            let mut out = File::create("consumer_log.txt").unwrap();
            for line in BufReader::new(std::io::stdin()).lines() {
                let Ok(line) = line else { break };
                let v: u64 = line.trim().parse().unwrap();
                writeln!(out, "{v} {}", if v % 2 == 0 { "even" } else { "odd" }).unwrap();
                log("consumer", &format!("received {v}"));
            }
            log("consumer", "end of file");
        }
        _ => {
            File::create("execution_log.txt").unwrap();
            log("main", "start");
            let me = std::env::current_exe().unwrap();
            let mut producer = Command::new(&me).arg("producer").stdout(Stdio::piped()).spawn().unwrap();
            let pipe = producer.stdout.take().unwrap();
            let mut consumer = Command::new(&me).arg("consumer").stdin(Stdio::from(pipe)).spawn().unwrap();
            producer.wait().unwrap();
            consumer.wait().unwrap();
            log("main", "done");
        }
    }
}
