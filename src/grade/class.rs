//! Grading a class: every submission folder of `--class DIR`, graded in parallel on the
//! project's own `task_pool` (one task per submission, run by a pool worker, which returns the
//! submission's JSON), then one CSV and one HTML table — a row per student, a column per
//! criterion, each cell linking to its evidence. A submission whose command cannot start, or
//! whose grading fails, is one row with the reason, never the end of the batch.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::cli::{Options, class_command};
use super::error::{Error, Result};
use super::judge::IDS;
use super::{grade, report};
use crate::desafio::escape::xml as escape;
use crate::desafio::lang::Lang;
use crate::task_pool::{Job, Outcome, Pool, PoolConfig, Task};

/// One submission's grading, as a pool job: the input is its folder; the output is its JSON.
struct GradeJob {
    template: Option<String>,
    times: u32,
    timeout: Duration,
    env: Vec<(String, String)>,
    lang: Lang,
    skip: Vec<ipc_sys::sandbox::Protection>,
}

impl Job for GradeJob {
    type In = String;
    type Out = String;

    fn name(&self, _: &String) -> &'static str {
        "grade"
    }

    fn run(&self, folder: String) -> std::result::Result<String, String> {
        let dir = PathBuf::from(folder);
        let command = class_command(&dir, self.template.as_deref()).map_err(|e| e.to_string())?;
        let graded = grade(
            &dir,
            &command,
            self.times,
            self.timeout,
            false,
            self.lang,
            super::Setup {
                env: &self.env,
                skip: &self.skip,
            },
        )
        .map_err(|e| e.to_string())?;
        Ok(report::json(&graded))
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Cell {
    pub id: String,
    pub verdict: String,
    pub evidence: String,
}

/// A submission's JSON, read back.
#[derive(Debug, Clone, Deserialize)]
pub struct Graded {
    pub command: Vec<String>,
    pub runs: u32,
    pub criteria: Vec<Cell>,
    pub passed: usize,
    pub failed: usize,
    pub unknown: usize,
}

impl Graded {
    /// The verdict of criterion `id`, if the submission's JSON has it.
    fn verdict(&self, id: &str) -> Option<&str> {
        let cell = self.criteria.iter().find(|c| c.id == id);
        cell.map(|c| c.verdict.as_str())
    }
}

/// One row of the class table.
#[derive(Debug, Clone)]
pub struct Row {
    pub student: String,
    pub graded: std::result::Result<Graded, String>,
}

/// The submission folders of a class: its subfolders, hidden ones aside, sorted.
pub fn submissions(class: &Path) -> Result<Vec<PathBuf>> {
    let entries = fs::read_dir(class).map_err(|source| Error::Path {
        flag: "--class",
        path: class.to_path_buf(),
        source,
    })?;
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    out.sort();
    Ok(out)
}

pub fn grade_class(options: &Options) -> Result<u8> {
    let class = options.class.as_deref().unwrap_or(Path::new("."));
    let folders = submissions(class)?;
    if folders.is_empty() {
        return Err(Error::Usage(format!(
            "--class {}: no submission folder in it",
            class.display()
        )));
    }
    let lang = options.lang;
    let job = GradeJob {
        template: options.run.clone(),
        times: options.times,
        env: options.env.clone(),
        timeout: options.timeout,
        lang,
        skip: options.sandbox_skip.clone(),
    };
    // Every run of a submission, plus its box's backstop, plus copying and judging.
    let runs = options.times + 3;
    let per_submission =
        (options.timeout + Duration::from_secs(15)) * runs + Duration::from_secs(60);
    let mut pool = Pool::start(PoolConfig::new(options.jobs.min(folders.len())), job)
        .map_err(|e| Error::Pool(e.to_string()))?;
    for folder in &folders {
        pool.push(Task::new(
            per_submission,
            folder.to_string_lossy().into_owned(),
        ))
        .map_err(|e| Error::Pool(e.to_string()))?;
    }
    let stopped = pool.stop().map_err(|e| Error::Pool(e.to_string()))?;
    let rows = folders
        .iter()
        .zip(stopped.reports.iter())
        .map(|(folder, report)| Row {
            student: folder
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            graded: match &report.outcome {
                Outcome::Ok(json) => {
                    serde_json::from_str::<Graded>(json).map_err(|e| e.to_string())
                }
                Outcome::Failed(why) => Err(why.clone()),
                Outcome::TimedOut => Err(lang
                    .pick("grading took too long", "a avaliação demorou demais")
                    .to_string()),
                Outcome::Crashed(status) => Err(format!("grading {status}")),
            },
        })
        .collect();
    write_tables(options, rows)
}

/// The class table from `--json` outputs made elsewhere: every `STUDENT.json` of `--merge DIR`.
pub fn merge(options: &Options) -> Result<u8> {
    let dir = options.merge.as_deref().unwrap_or(Path::new("."));
    let entries = fs::read_dir(dir).map_err(|source| Error::Path {
        flag: "--merge",
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::Usage(format!(
            "--merge {}: no .json file in it",
            dir.display()
        )));
    }
    let rows = files
        .iter()
        .map(|f| Row {
            student: f
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            graded: fs::read_to_string(f)
                .map_err(|e| e.to_string())
                .and_then(|t| serde_json::from_str::<Graded>(&t).map_err(|e| e.to_string())),
        })
        .collect();
    write_tables(options, rows)
}

fn write_tables(options: &Options, rows: Vec<Row>) -> Result<u8> {
    let lang = options.lang;
    let csv_path = options.output.join("grade.csv");
    let html_path = options.output.join("grade.html");
    write_csv(&csv_path, &rows)?;
    fs::write(&html_path, html(&rows, lang)).map_err(|source| Error::Output {
        what: html_path.display().to_string(),
        source,
    })?;
    let mut text = String::new();
    let mut failed = false;
    for row in &rows {
        match &row.graded {
            Ok(g) => {
                failed |= g.failed > 0;
                text.push_str(&lang.pick(
                    format!(
                        "{}: {} passed, {} failed, {} unknown\n",
                        row.student, g.passed, g.failed, g.unknown
                    ),
                    format!(
                        "{}: {}\n",
                        row.student,
                        report::score_pt(g.passed, g.failed, g.unknown)
                    ),
                ));
            }
            Err(why) => {
                failed = true;
                text.push_str(&format!(
                    "{}: {} {why}\n",
                    row.student,
                    lang.pick("not graded:", "não avaliado:")
                ));
            }
        }
    }
    let (wrote, and) = lang.pick(("wrote", "and"), ("gravados", "e"));
    let (csv, html) = (csv_path.display(), html_path.display());
    text.push_str(&format!("{wrote} {csv} {and} {html}\n"));
    report::print(&text)?;
    Ok(if failed {
        super::error::EXIT_FAILURE
    } else {
        0
    })
}

fn write_csv(path: &Path, rows: &[Row]) -> Result<()> {
    let out_err = |e: csv::Error| Error::Output {
        what: path.display().to_string(),
        source: std::io::Error::other(e.to_string()),
    };
    let mut w = csv::Writer::from_path(path).map_err(out_err)?;
    let mut header = vec!["student", "command"];
    header.extend(IDS);
    header.extend(["passed", "failed", "unknown", "error"]);
    w.write_record(&header).map_err(out_err)?;
    for row in rows {
        let mut rec: Vec<String> = vec![row.student.clone()];
        match &row.graded {
            Ok(g) => {
                rec.push(g.command.join(" "));
                rec.extend(IDS.map(|id| g.verdict(id).unwrap_or_default().to_string()));
                rec.extend([g.passed, g.failed, g.unknown].map(|n| n.to_string()));
                rec.push(String::new());
            }
            Err(why) => {
                rec.push(String::new());
                rec.extend(IDS.iter().map(|_| String::new()));
                rec.extend([String::new(), String::new(), String::new()]);
                rec.push(why.clone());
            }
        }
        w.write_record(&rec).map_err(out_err)?;
    }
    w.flush().map_err(|source| Error::Output {
        what: path.display().to_string(),
        source,
    })
}

/// An anchor name from a student's folder name: letters, digits, `-` and `_`, unique.
fn anchors(rows: &[Row]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            let mut a: String = r
                .student
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            if a.is_empty() || !seen.insert(a.clone()) {
                a = format!("{a}_{i}");
                seen.insert(a.clone());
            }
            format!("s-{a}")
        })
        .collect()
}

/// The class page: the table, then each student's evidence, one anchor per criterion.
pub fn html(rows: &[Row], lang: Lang) -> String {
    let anchors = anchors(rows);
    let mut h = String::new();
    h.push_str(&format!(
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>{}</title>\n<style>\n",
        lang.pick("en", "pt-BR"),
        lang.pick("Desafio 01 — class grades", "Desafio 01 — notas da turma")
    ));
    h.push_str(
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}\
         th,td{border:1px solid #999;padding:.3em .6em;text-align:center}\
         td.student{text-align:left;font-weight:bold}\
         .pass{background:#c8f0c8}.fail{background:#f6c4c4}.unknown{background:#eee}\
         .error{background:#f6e0a8;text-align:left}\
         section{margin-top:1.5em}p.c{margin:.2em 0}p.c:target{outline:2px solid #36c}\n</style>\n</head>\n<body>\n",
    );
    h.push_str(&format!(
        "<h1>{}</h1>\n<table id=\"grades\">\n<thead><tr><th>{}</th>",
        lang.pick("Desafio 01 — class grades", "Desafio 01 — notas da turma"),
        lang.pick("student", "aluno")
    ));
    for id in IDS {
        h.push_str(&format!("<th>{id}</th>"));
    }
    h.push_str(&format!(
        "<th>{}</th></tr></thead>\n<tbody>\n",
        lang.pick("score", "nota")
    ));
    for (row, anchor) in rows.iter().zip(&anchors) {
        h.push_str(&format!(
            "<tr><td class=\"student\"><a href=\"#{anchor}\">{}</a></td>",
            escape(&row.student)
        ));
        match &row.graded {
            Ok(g) => {
                for id in IDS {
                    let v = g.verdict(id).unwrap_or("unknown");
                    h.push_str(&format!(
                        "<td class=\"{v}\"><a href=\"#{anchor}-{id}\">{v}</a></td>"
                    ));
                }
                h.push_str(&format!("<td>{}/{}</td></tr>\n", g.passed, IDS.len()));
            }
            Err(why) => {
                h.push_str(&format!(
                    "<td class=\"error\" colspan=\"{}\"><a href=\"#{anchor}\">{}</a></td></tr>\n",
                    IDS.len() + 1,
                    escape(why)
                ));
            }
        }
    }
    h.push_str("</tbody>\n</table>\n");
    for (row, anchor) in rows.iter().zip(&anchors) {
        h.push_str(&format!(
            "<section id=\"{anchor}\">\n<h2>{}</h2>\n",
            escape(&row.student)
        ));
        match &row.graded {
            Ok(g) => {
                h.push_str(&format!(
                    "<p><code>{}</code> — {} {}</p>\n",
                    escape(&g.command.join(" ")),
                    g.runs,
                    lang.pick("normal runs", "execuções normais")
                ));
                for c in &g.criteria {
                    h.push_str(&format!(
                        "<p class=\"c {}\" id=\"{anchor}-{}\"><b>{}</b>: {} — {}</p>\n",
                        escape(&c.verdict),
                        escape(&c.id),
                        escape(&c.id),
                        escape(&c.verdict),
                        escape(&c.evidence)
                    ));
                }
            }
            Err(why) => {
                h.push_str(&format!(
                    "<p class=\"error\">{} {}</p>\n",
                    lang.pick("Not graded:", "Não avaliado:"),
                    escape(why)
                ));
            }
        }
        h.push_str("</section>\n");
    }
    h.push_str("</body>\n</html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_are_unique_and_plain() {
        let row = |s: &str| Row {
            student: s.into(),
            graded: Err(String::new()),
        };
        let a = anchors(&[row("ana maria"), row("ana_maria"), row("<x>")]);
        assert_eq!(a, ["s-ana_maria", "s-ana_maria_1", "s-_x_"]);
    }
}
