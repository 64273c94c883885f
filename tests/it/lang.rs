//! Portuguese, the language of the course: chosen by the locale or `--lang`, in every line the
//! program writes; `verify` and `report` read a run in either language and say which.

use crate::common;

use std::process::Command;

use common::{Bounded, Run, code, stderr, stdout};

/// `ipc_desafio` with a Brazilian locale.
fn brazilian() -> Command {
    let mut cmd = Command::new(common::BIN);
    cmd.env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("LANG", "pt_BR.UTF-8");
    cmd
}

#[test]
fn a_portuguese_locale_writes_portuguese_logs_that_verify_reads_in_either_language() {
    let run = Run::new();
    let out = brazilian()
        .args(["-q", "--seed", "3", "--log-dir"])
        .arg(run.path())
        .run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let exec = run.exec_text();
    for word in [
        "] iniciado: quantidade 12, intervalo 1..=100, semente 3, pausa nenhuma, falha nenhuma",
        "[produtor ",
        "[consumidor ",
        "] marcador de fim recebido (12 valores anunciados, 12 recebidos)",
        "] resumo: enviados 12, recebidos 12, perdidos 0;",
    ] {
        assert!(exec.contains(word), "{word:?} missing:\n{exec}");
    }
    assert!(
        !exec.contains(" sent ") && !exec.contains("received"),
        "{exec}"
    );
    let consumer = std::fs::read_to_string(run.consumer_path()).unwrap();
    assert!(
        consumer
            .lines()
            .skip(1)
            .take(12)
            .all(|l| l.ends_with(" par") || l.ends_with(" ímpar"))
    );
    assert!(
        consumer.contains("# totais: valores 12, pares "),
        "{consumer}"
    );

    let verdict = brazilian()
        .arg("verify")
        .arg("--log-dir")
        .arg(run.path())
        .run();
    assert_eq!(code(&verdict), 0, "{}", stdout(&verdict));
    let text = stdout(&verdict);
    assert!(text.contains("nota: os logs estão em português"), "{text}");
    assert!(
        text.contains("requisito 2, pelo menos 10 trocas: PASSOU"),
        "{text}"
    );
    assert!(text.ends_with("verify: OK: 12 valores enviados, 12 recebidos, 0 perdidos (execution_log.txt: 37 linhas, consumer_log.txt: 14 linhas)\n"), "{text}");

    let english = run.verify();
    assert_eq!(code(&english), 0);
    assert!(stdout(&english).contains("note: the logs are written in Portuguese"));

    let svg = common::desafio()
        .args(["report", "--log-dir"])
        .arg(run.path())
        .run();
    assert_eq!(code(&svg), 0, "{}", stderr(&svg));
    assert_eq!(
        stdout(&svg).matches("class=\"trip ").count(),
        12,
        "report reads it too"
    );
}

#[test]
fn the_flag_wins_over_the_locale_in_both_directions() {
    let run = Run::new();
    let out = brazilian()
        .args(["-q", "--lang", "en", "--log-dir"])
        .arg(run.path())
        .run();
    assert_eq!(code(&out), 0);
    assert!(run.exec_text().contains("] summary: sent 12"));
    let out = common::desafio()
        .args(["-q", "--lang", "pt", "--log-dir"])
        .arg(run.path())
        .run();
    assert_eq!(code(&out), 0);
    assert!(run.exec_text().contains("] resumo: enviados 12"));
}

#[test]
fn help_and_errors_speak_portuguese_with_a_portuguese_locale() {
    let help = brazilian().arg("--help").run();
    assert_eq!(code(&help), 0);
    let text = stdout(&help);
    for part in [
        "Uso: ipc_desafio [OPÇÕES]",
        "Opções:",
        "Comandos:",
        "Exemplos:",
        "Quantos valores distintos",
    ] {
        assert!(text.contains(part), "{part:?} missing:\n{text}");
    }
    for (args, expected) in [
        (
            vec!["-n", "-3"],
            "erro: valor inválido '-3' para '--count <N>': a quantidade não pode ser negativa; recebido '-3'",
        ),
        (vec!["--bogus"], "erro: argumento inesperado '--bogus'"),
        (
            vec!["-n", "5", "--max", "3"],
            "erro: --count 5 pede mais valores distintos do que 1..=3 contém (3)",
        ),
        (
            vec!["verify", "--log-dir", "/nonexistent"],
            "erro: --log-dir /nonexistent: arquivo ou pasta inexistente (erro do sistema 2)",
        ),
    ] {
        let out = brazilian().args(&args).run();
        assert_eq!(code(&out), 2, "{args:?}");
        assert_eq!(stderr(&out).trim_end(), expected, "{args:?}");
    }
}

#[test]
fn logs_that_mix_two_languages_are_caught() {
    let run = Run::new();
    assert_eq!(code(&run.run(&["-q", "--lang", "pt"])), 0);
    // One whole line in English among Portuguese ones: it parses, but it cannot belong here.
    let text = run.exec_text();
    let line = text.lines().find(|l| l.contains("] enviou ")).unwrap();
    let english = line
        .replace("[produtor ", "[producer ")
        .replace("] enviou ", "] sent ");
    let text = text.replacen(line, &english, 1);
    std::fs::write(run.exec_path(), text).unwrap();
    let audit = stdout(&run.audit());
    let at = text_line_number(&run.exec_text(), &english);
    assert!(
        audit.contains(&format!(
            "execution_log.txt:{at}: a line in English in a log written in Portuguese: one run writes one language"
        )),
        "{audit}"
    );
    assert_eq!(code(&run.audit()), 1);
}

fn text_line_number(text: &str, line: &str) -> usize {
    text.lines().position(|l| l == line).unwrap() + 1
}

/// The same for the consumer's own log: one Portuguese line inside an English consumer_log.txt
/// is named at its line.
#[test]
fn a_portuguese_line_in_an_english_consumer_log_is_caught() {
    let run = Run::new();
    assert_eq!(code(&run.run(&["-q", "--lang", "en"])), 0);
    let path = run.consumer_path();
    let text = std::fs::read_to_string(&path).unwrap();
    let line = text.lines().nth(3).unwrap().to_string();
    let portuguese = line.replace(" even", " par").replace(" odd", " ímpar");
    std::fs::write(&path, text.replacen(&line, &portuguese, 1)).unwrap();
    let audit = stdout(&run.audit());
    assert!(
        audit.contains(
            "consumer_log.txt:4: a line in Portuguese in a log written in English: one run writes one language"
        ),
        "{audit}"
    );
    assert_eq!(code(&run.audit()), 1);
}

/// Everything a Portuguese user reads is Portuguese: `help COMMAND`, the usage line and the
/// placeholders, the system's error texts, the picture's titles, verify's reasons, and numbers
/// with a decimal comma.
#[test]
fn a_portuguese_user_reads_portuguese_everywhere() {
    let help = brazilian().args(["help", "verify"]).run();
    assert_eq!(code(&help), 0, "{}", stderr(&help));
    let text = stdout(&help);
    assert!(text.contains("Uso: ipc_desafio verify [OPÇÕES]"), "{text}");
    assert!(text.contains("--log-dir <PASTA>"), "{text}");
    let main_help = stdout(&brazilian().arg("--help").run());
    for (pt, en) in [("<TIPO@K>", "<KIND@K>"), ("<PASTA>", "<DIR>")] {
        assert!(
            main_help.contains(pt) && !main_help.contains(en),
            "{main_help}"
        );
    }
    assert!(
        main_help.contains("help    Mostra esta ajuda"),
        "{main_help}"
    );
    let report_help = stdout(&brazilian().args(["help", "report"]).run());
    assert!(report_help.contains("--output <ARQUIVO>"), "{report_help}");

    let missing = brazilian().args(["-q", "--log-dir", "/nonexistent"]).run();
    assert!(
        !stderr(&missing).contains("os error"),
        "{}",
        stderr(&missing)
    );

    let run = Run::new();
    let out = brazilian()
        .args(["-q", "--seed", "3", "--log-dir"])
        .arg(run.path())
        .run();
    assert_eq!(code(&out), 0);
    let summary = run.exec_text().lines().last().unwrap().to_string();
    let comma =
        regex::Regex::new(r"em \d+,\d{3} s; produtor pico de RSS \d+,\d MiB, CPU \d+,\d{3} s")
            .unwrap();
    assert!(comma.is_match(&summary), "{summary}");

    let picture = run.path().join("execucao.html");
    let out = brazilian()
        .args(["report", "--log-dir"])
        .arg(run.path())
        .arg("-o")
        .arg(&picture)
        .run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let html = std::fs::read_to_string(&picture).unwrap();
    assert!(
        html.contains("<title>Execução do Desafio 01: ")
            && html.contains("<title>Execução do Desafio 01</title>")
    );
    assert!(!html.contains("Desafio 01 run"), "an English title is left");

    // A line no run writes: the reason is given in Portuguese too.
    let text = run.exec_text();
    let line = text.lines().find(|l| l.contains("] enviou ")).unwrap();
    let (head, _) = line.split_once("] ").unwrap();
    std::fs::write(
        run.exec_path(),
        text.replacen(line, &format!("{head}] dançou"), 1),
    )
    .unwrap();
    let audit = stdout(
        &brazilian()
            .args(["verify", "--audit-only", "--log-dir"])
            .arg(run.path())
            .run(),
    );
    assert!(
        audit.contains("linha ilegível: mensagem desconhecida 'dançou'"),
        "{audit}"
    );
}

/// The Portuguese command turns clap's help flag off (a global setting) to give its own: every
/// subcommand, grade included, still answers `-h`/`--help` and `help COMMAND` with its help.
#[test]
fn every_subcommand_shows_its_help_in_a_portuguese_locale() {
    for (args, first) in [
        (vec!["grade", "--help"], "Grade any Desafio 01 submission"),
        (vec!["grade", "-h"], "Grade any Desafio 01 submission"),
        (vec!["help", "grade"], "Grade any Desafio 01 submission"),
        (vec!["verify", "--help"], "Audita os dois logs"),
        (vec!["report", "-h"], "Desenha uma execução"),
        (vec!["help", "report"], "Desenha uma execução"),
    ] {
        let out = brazilian().args(&args).run();
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).is_empty(), "{args:?}: {}", stderr(&out));
        assert!(
            stdout(&out).starts_with(first),
            "{args:?}:\n{}",
            stdout(&out)
        );
    }
}
