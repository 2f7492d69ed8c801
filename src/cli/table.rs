//! The one table renderer of the command line (comfy-table): no borders,
//! columns two spaces apart and padded to their widest cell, numbers
//! right-aligned where asked, no trailing blanks. Every table a command
//! prints (plans, memberships, registration reports) goes through it, so
//! they all read and `awk` alike.

use comfy_table::{CellAlignment, ColumnConstraint, ContentArrangement, Table, Width};

/// One column: its header, its alignment and its narrowest width.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Column<'a> {
    pub header: &'a str,
    pub right: bool,
    pub min_width: u16,
}

impl<'a> Column<'a> {
    /// A left-aligned column.
    pub(crate) fn left(header: &'a str) -> Column<'a> {
        Column { header, right: false, min_width: 0 }
    }

    /// A right-aligned column at least `min_width` characters wide.
    pub(crate) fn right(header: &'a str, min_width: u16) -> Column<'a> {
        Column { header, right: true, min_width }
    }
}

/// Left-aligned columns named by `header`.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let columns: Vec<Column<'_>> = header.iter().map(|h| Column::left(h)).collect();
    render(&columns, rows)
}

/// `rows` under `columns`, one line each, ending with a newline.
pub(crate) fn render(columns: &[Column<'_>], rows: &[Vec<String>]) -> String {
    let mut t = Table::new();
    t.load_style(comfy_table::presets::NOTHING);
    t.set_content_arrangement(ContentArrangement::Disabled);
    t.set_header(columns.iter().map(|c| c.header).collect::<Vec<_>>());
    for row in rows {
        t.add_row(row.clone());
    }
    let last = columns.len().saturating_sub(1);
    let mut constraints = Vec::with_capacity(columns.len());
    for (i, (column, c)) in t.column_iter_mut().zip(columns).enumerate() {
        let gap = if i == last { 0 } else { 2 };
        column.set_padding((0, gap));
        if c.right {
            column.set_cell_alignment(CellAlignment::Right);
        }
        // comfy-table counts the padding in a column's width.
        constraints.push(ColumnConstraint::LowerBoundary(Width::Fixed(c.min_width + gap)));
    }
    t.set_constraints(constraints);
    let mut out = String::new();
    for line in t.lines() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_padded_to_the_widest_cell_and_lines_end_clean() {
        let rows = vec![
            vec!["a".to_string(), "long value".into(), "x".into()],
            vec!["bbb".into(), "".into(), "".into()],
        ];
        assert_eq!(table(&["K", "V", "NOTE"], &rows), "K    V           NOTE\na    long value  x\nbbb\n");
    }

    #[test]
    fn right_aligned_columns_keep_their_width() {
        let cols = [Column::left("GROUP"), Column::right("MEMBERS", 8), Column::right("SHARE", 6)];
        let rows = vec![vec!["g".to_string(), "7".into(), "1.5%".into()]];
        assert_eq!(render(&cols, &rows), "GROUP   MEMBERS   SHARE\ng             7    1.5%\n");
    }
}
