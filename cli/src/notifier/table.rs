//! Column-aligned tables, as table output prints lists: a header in capitals, one row per item,
//! columns two spaces apart, the last one not padded.

/// Spaces between two columns.
const COLUMN_GAP: usize = 2;

/// A table being filled in.
#[derive(Debug)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column names.
    pub fn new(header: &[&str]) -> Self {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row: one cell per column, line breaks and tabs in a cell shown as spaces so
    /// that each row stays one line.
    pub fn push(&mut self, row: Vec<String>) {
        debug_assert_eq!(row.len(), self.header.len(), "{row:?}");
        let row = row
            .into_iter()
            .map(|cell| cell.replace(|c: char| c.is_control(), " "))
            .collect();
        self.rows.push(row);
    }

    /// The table's lines, each starting with `indent` and ending with a newline.
    pub fn render(&self, indent: &str) -> String {
        let widths: Vec<usize> = (0..self.header.len())
            .map(|col| {
                std::iter::once(&self.header)
                    .chain(&self.rows)
                    .map(|row| row[col].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = indent.to_string();
            for (col, cell) in row.iter().enumerate() {
                line.push_str(cell);
                if col + 1 < row.len() {
                    let pad = widths[col] - cell.chars().count() + COLUMN_GAP;
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}
