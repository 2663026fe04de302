//! README.zh.md is kept in step with README.md: the same commands and code
//! blocks in the same order, the same section structure, and tables with the
//! same number of rows. (The prose is translated; these are what a reader of
//! either copies and navigates by.)

use std::path::Path;

struct Doc {
    code_blocks: Vec<String>,
    headings: Vec<usize>,
    table_rows: Vec<usize>,
}

fn parse(path: &str) -> Doc {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repo root");
    let text = std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut doc = Doc { code_blocks: Vec::new(), headings: Vec::new(), table_rows: Vec::new() };
    let mut block: Option<String> = None;
    let mut rows = 0;
    for line in text.lines() {
        if let Some(b) = block.as_mut() {
            b.push_str(line);
            b.push('\n');
            if line.starts_with("```") {
                doc.code_blocks.push(block.take().unwrap_or_default());
            }
            continue;
        }
        if line.starts_with("```") {
            block = Some(format!("{line}\n"));
            continue;
        }
        if line.starts_with('|') {
            rows += 1;
            continue;
        }
        if rows > 0 {
            doc.table_rows.push(rows);
            rows = 0;
        }
        if line.starts_with('#') {
            doc.headings.push(line.chars().take_while(|&c| c == '#').count());
        }
    }
    if rows > 0 {
        doc.table_rows.push(rows);
    }
    doc
}

#[test]
fn the_chinese_readme_is_in_step_with_the_english_one() {
    let (en, zh) = (parse("README.md"), parse("README.zh.md"));
    assert!(en.code_blocks.len() >= 10, "README.md has its commands");
    for (i, (a, b)) in en.code_blocks.iter().zip(&zh.code_blocks).enumerate() {
        assert_eq!(a, b, "code block {i} differs between README.md and README.zh.md");
    }
    assert_eq!(en.code_blocks.len(), zh.code_blocks.len(), "the same number of code blocks");
    assert_eq!(en.headings, zh.headings, "the same sections at the same levels");
    assert_eq!(en.table_rows, zh.table_rows, "the same tables with the same number of rows");
    // Both start with the two commands of a new user.
    assert!(zh.code_blocks[0].contains("./scripts/run.sh") && zh.code_blocks[0].contains("./scripts/test.sh"));
}
