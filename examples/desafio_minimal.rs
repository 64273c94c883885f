//! O Desafio 01 numa página: o main cria com `fork` um produtor e um consumidor ligados por um
//! `pipe`; 12 números distintos passam por ele; o consumidor diz se cada um é par ou ímpar; os
//! três escrevem num só log sob `flock`. `cargo run --example desafio_minimal -- PASTA`.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};

use fs2::FileExt; // lock_exclusive / unlock: o flock(2)
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, getpid, getppid, pipe};
use rand::SeedableRng;
use rand::seq::SliceRandom;

const QUANTIDADE: usize = 12;
const HORA: &str = "%Y-%m-%dT%H:%M:%S%.3f%:z"; // RFC 3339, hora local, milissegundos

fn agora() -> String {
    chrono::Local::now().format(HORA).to_string()
}

/// Escreve uma linha em execution_log.txt. Cada processo abre o seu próprio descritor (depois
/// do fork): o flock pertence ao descritor aberto, e um herdado não excluiria ninguém.
fn registra(papel: &str, mensagem: &str) -> io::Result<()> {
    let mut log = OpenOptions::new().append(true).open("execution_log.txt")?;
    log.lock_exclusive()?; // espera a vez: só um processo escreve de cada vez
    let pid = std::process::id();
    let linha = format!("{} [{papel} {pid}] {mensagem}\n", agora());
    let escrita = log.write_all(linha.as_bytes()); // a linha inteira num só write(2)
    FileExt::unlock(&log)?;
    print!("{linha}");
    escrita
}

/// Um quadro de 9 bytes: a etiqueta (1 = valor, 2 = marcador de fim) e o número em 8 bytes.
fn quadro(etiqueta: u8, numero: u64) -> Vec<u8> {
    let mut bytes = vec![etiqueta];
    bytes.extend_from_slice(&numero.to_le_bytes());
    bytes
}

fn produtor(mut pipe: File, semente: u64) -> io::Result<i32> {
    // 12 números distintos de 1 a 100: embaralha 1..=100 e fica com os 12 primeiros.
    let mut numeros: Vec<u64> = (1..=100).collect();
    numeros.shuffle(&mut rand::rngs::StdRng::seed_from_u64(semente));
    numeros.truncate(QUANTIDADE);
    for (i, valor) in numeros.into_iter().enumerate() {
        let texto = format!("sent {valor} ({}/{QUANTIDADE})", i + 1); // i conta a partir de 0
        registra("producer", &texto)?; // antes de o valor entrar no pipe
        if let Err(erro) = pipe.write_all(&quadro(1, valor)) {
            if erro.kind() == io::ErrorKind::BrokenPipe {
                // EPIPE: ninguém mais lê o pipe (o consumidor saiu).
                let texto = format!("consumer closed the pipe after {i} of {QUANTIDADE} values");
                registra("producer", &format!("error: {texto}"))?;
                return Ok(3);
            }
            return Err(erro);
        }
    }
    registra(
        "producer",
        &format!("end marker sent ({QUANTIDADE} values)"),
    )?;
    pipe.write_all(&quadro(2, QUANTIDADE as u64))?;
    Ok(0)
}

fn consumidor(mut pipe: File) -> io::Result<i32> {
    let mut saida = OpenOptions::new().append(true).open("consumer_log.txt")?;
    let pid = std::process::id();
    writeln!(
        saida,
        "# consumer_log.txt: run started {}, consumer pid {pid}",
        agora()
    )?;
    let mut recebidos: u64 = 0;
    let mut pares: u64 = 0;
    let mut problema = String::new();
    let mut codigo = 0;
    loop {
        let mut bytes = [0u8; 9];
        // read_exact junta leituras curtas; sem os 9 bytes, é o fim de arquivo: nenhum
        // processo tem mais a ponta de escrita.
        if let Err(erro) = pipe.read_exact(&mut bytes) {
            if erro.kind() != io::ErrorKind::UnexpectedEof {
                return Err(erro);
            }
            problema = format!("pipe closed before the end marker after {recebidos} values");
            codigo = 4; // fim de arquivo antes do marcador de fim
            break;
        }
        let mut numero = [0u8; 8];
        numero.copy_from_slice(&bytes[1..]);
        let numero = u64::from_le_bytes(numero);
        if bytes[0] == 1 {
            let classe = if numero % 2 == 0 { "even" } else { "odd" };
            registra("consumer", &format!("received {numero}: {classe}"))?;
            writeln!(saida, "{} {numero} {classe}", agora())?;
            recebidos += 1;
            if numero % 2 == 0 {
                pares += 1;
            }
        } else if bytes[0] == 2 {
            let texto = format!("{numero} values announced, {recebidos} received");
            registra("consumer", &format!("end marker received ({texto})"))?;
            if numero != recebidos {
                problema = format!("end marker announced {numero} values but {recebidos} arrived");
                codigo = 5; // o protocolo foi quebrado
            }
            break;
        } else {
            problema = format!("unknown message tag 0x{:02x}", bytes[0]);
            codigo = 5;
            break;
        }
    }
    let impares = recebidos - pares;
    let mut totais = format!("# totals: values {recebidos}, even {pares}, odd {impares}");
    if !problema.is_empty() {
        registra("consumer", &format!("error: {problema}"))?;
        totais += &format!(" (incomplete: {problema})");
    }
    writeln!(saida, "{totais}")?;
    Ok(codigo)
}

/// A vida de um filho depois do fork: morrer junto com o main, registrar, trabalhar, sair.
fn vida_de_filho(papel: &str, main: Pid, trabalho: impl FnOnce() -> io::Result<i32>) -> i32 {
    // Se o main morrer, o kernel mata este filho (senão ele ficaria órfão, esperando).
    if nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).is_err() || getppid() != main {
        return 1; // ou o main já morreu antes do prctl
    }
    let codigo = registra(papel, "started").and_then(|()| trabalho());
    let codigo = codigo.unwrap_or_else(|erro| {
        let _ = registra(papel, &format!("error: {erro}"));
        1
    });
    let _ = registra(papel, &format!("exiting with code {codigo}"));
    codigo
}

fn main() -> io::Result<()> {
    let pasta = std::env::args().nth(1).unwrap_or_else(|| ".".to_string());
    std::env::set_current_dir(pasta)?;
    File::create("execution_log.txt")?; // os dois logs começam vazios
    File::create("consumer_log.txt")?;
    let semente: u64 = rand::random();
    let main = getpid();
    let inicio = format!("started: count {QUANTIDADE}, range 1..=100, seed {semente}");
    registra("main", &format!("{inicio}, pace none, fault none"))?;
    let (leitura, escrita) = pipe()?;
    io::stdout().flush()?; // senão o texto guardado sairia uma vez em cada processo
    // SAFETY: o main tem uma só thread; o filho só roda vida_de_filho e sai com _exit.
    let produtor_pid = match unsafe { fork() }? {
        ForkResult::Child => {
            drop(leitura); // o produtor não lê: se lesse, nunca receberia EPIPE
            let codigo = vida_de_filho("producer", main, || produtor(File::from(escrita), semente));
            let _ = io::stdout().flush();
            // SAFETY: _exit encerra o filho na hora, sem rodar de novo o que é do main.
            unsafe { libc::_exit(codigo) }
        }
        ForkResult::Parent { child } => child,
    };
    drop(escrita); // o main não escreve, e o consumidor não deve herdar a ponta: o EOF depende disso
    // SAFETY: como acima; o consumidor herda só a ponta de leitura.
    let consumidor_pid = match unsafe { fork() }? {
        ForkResult::Child => {
            let codigo = vida_de_filho("consumer", main, || consumidor(File::from(leitura)));
            let _ = io::stdout().flush();
            // SAFETY: como acima.
            unsafe { libc::_exit(codigo) }
        }
        ForkResult::Parent { child } => child,
    };
    drop(leitura); // o main não lê: quando o consumidor sair, o produtor recebe EPIPE
    registra("main", &format!("spawned producer {produtor_pid}"))?;
    registra("main", &format!("spawned consumer {consumidor_pid}"))?;
    let mut tudo_certo = true;
    for (papel, pid) in [("producer", produtor_pid), ("consumer", consumidor_pid)] {
        let como = match waitpid(pid, None)? {
            WaitStatus::Exited(_, codigo) => format!("exited with code {codigo}"),
            WaitStatus::Signaled(_, sinal, _) => format!("killed by {}", sinal.as_str()),
            outro => format!("ended as {outro:?}"),
        };
        tudo_certo = tudo_certo && como == "exited with code 0";
        registra("main", &format!("{papel} {pid} {como}"))?;
    }
    // O main conta no log; com EPIPE, o último "sent" registrado nunca entrou no pipe.
    let texto = std::fs::read_to_string("execution_log.txt")?;
    let epipe = usize::from(texto.contains("] error: consumer closed the pipe"));
    let enviados = texto.lines().filter(|l| l.contains("] sent ")).count() - epipe;
    let recebidos = texto.lines().filter(|l| l.contains("] received ")).count();
    let perdidos = enviados.saturating_sub(recebidos);
    let codigo = if tudo_certo && perdidos == 0 { 0 } else { 1 };
    registra("main", &format!("exiting with code {codigo}"))?;
    let resumo = format!("sent {enviados}, received {recebidos}, lost {perdidos}");
    registra("main", &format!("summary: {resumo}"))?;
    std::process::exit(codigo)
}
