//! One report section written twice as it streams: a CSV file (UTF-8 with a BOM, so Excel reads
//! Korean text) and a worksheet of the XLSX (typed cells: money as numbers, times as dates), both
//! ending with a totals row. Rows go straight to disk: memory does not grow with the report.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook, Worksheet, XlsxError};

/// Korea Standard Time: how every time in a report is written.
pub fn kst() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).unwrap_or_else(|| unreachable!("+09:00 is a valid offset"))
}

/// A typed cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    /// KRW.
    Money(i64),
    Count(i64),
    Time(Option<DateTime<Utc>>),
    Date(NaiveDate),
}

impl Cell {
    /// How the CSV writes it: integers as digits, times in RFC 3339 at +09:00.
    fn csv(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Money(n) | Cell::Count(n) => n.to_string(),
            Cell::Time(None) => String::new(),
            Cell::Time(Some(at)) => at.with_timezone(&kst()).to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
            Cell::Date(d) => d.format("%Y-%m-%d").to_string(),
        }
    }
}

/// A column: its header and whether the totals row sums it.
pub struct Column {
    pub header: &'static str,
    pub summed: bool,
}

pub const fn col(header: &'static str) -> Column {
    Column { header, summed: false }
}

pub const fn sum(header: &'static str) -> Column {
    Column { header, summed: true }
}

struct Formats {
    header: Format,
    money: Format,
    count: Format,
    time: Format,
    date: Format,
    total: Format,
    total_money: Format,
}

impl Formats {
    fn new() -> Self {
        Self {
            header: Format::new().set_bold(),
            money: Format::new().set_num_format("#,##0"),
            count: Format::new().set_num_format("0"),
            time: Format::new().set_num_format("yyyy-mm-dd hh:mm:ss"),
            date: Format::new().set_num_format("yyyy-mm-dd"),
            total: Format::new().set_bold(),
            total_money: Format::new().set_bold().set_num_format("#,##0"),
        }
    }
}

/// A section being written.
pub struct Section<'w> {
    columns: &'static [Column],
    csv: csv::Writer<BufWriter<File>>,
    sheet: &'w mut Worksheet,
    formats: Formats,
    row: u32,
    totals: Vec<i64>,
}

impl<'w> Section<'w> {
    /// Starts the CSV at `csv_path` and a constant-memory worksheet named `name` in `book`.
    pub fn start(
        book: &'w mut Workbook,
        name: &str,
        columns: &'static [Column],
        csv_path: &Path,
    ) -> anyhow::Result<Self> {
        let mut file = BufWriter::new(File::create(csv_path)?);
        file.write_all("\u{feff}".as_bytes())?;
        let mut csv = csv::Writer::from_writer(file);
        csv.write_record(columns.iter().map(|c| c.header))?;
        let sheet = book.add_worksheet_with_constant_memory()?;
        sheet.set_name(name)?;
        let formats = Formats::new();
        for (i, column) in (0u16..).zip(columns) {
            sheet.write_string_with_format(0, i, column.header, &formats.header)?;
            sheet.set_column_width(i, 16)?;
        }
        sheet.set_freeze_panes(1, 0)?;
        Ok(Self { columns, csv, sheet, formats, row: 1, totals: vec![0; columns.len()] })
    }

    pub fn push(&mut self, cells: &[Cell]) -> anyhow::Result<()> {
        anyhow::ensure!(
            cells.len() == self.columns.len(),
            "a row of {} cells for {} columns",
            cells.len(),
            self.columns.len()
        );
        self.csv.write_record(cells.iter().map(Cell::csv))?;
        for (i, cell) in (0u16..).zip(cells) {
            self.write(i, cell)?;
            if let (true, Cell::Money(n) | Cell::Count(n)) = (self.columns[usize::from(i)].summed, cell) {
                self.totals[usize::from(i)] += n;
            }
        }
        self.row += 1;
        Ok(())
    }

    #[allow(clippy::cast_precision_loss)]
    fn write(&mut self, column: u16, cell: &Cell) -> Result<(), XlsxError> {
        let (row, f) = (self.row, &self.formats);
        match cell {
            Cell::Text(s) => self.sheet.write_string(row, column, s).map(drop),
            Cell::Money(n) => self.sheet.write_number_with_format(row, column, *n as f64, &f.money).map(drop),
            Cell::Count(n) => self.sheet.write_number_with_format(row, column, *n as f64, &f.count).map(drop),
            Cell::Time(None) => Ok(()),
            Cell::Time(Some(at)) => {
                // Excel has no time zones: the Korean wall-clock time.
                let local =
                    ExcelDateTime::from_timestamp(at.with_timezone(&kst()).naive_local().and_utc().timestamp())?;
                self.sheet.write_datetime_with_format(row, column, &local, &f.time).map(drop)
            }
            Cell::Date(d) => {
                let date = ExcelDateTime::from_ymd(
                    u16::try_from(chrono::Datelike::year(d)).unwrap_or(1900),
                    u8::try_from(chrono::Datelike::month(d)).unwrap_or(1),
                    u8::try_from(chrono::Datelike::day(d)).unwrap_or(1),
                )?;
                self.sheet.write_datetime_with_format(row, column, &date, &f.date).map(drop)
            }
        }
    }

    /// Writes the totals row (`합계`, the summed columns) and closes the CSV; answers the number
    /// of data rows.
    #[allow(clippy::cast_precision_loss)]
    pub fn finish(mut self) -> anyhow::Result<u32> {
        let rows = self.row - 1;
        let mut record = Vec::with_capacity(self.columns.len());
        for (i, column) in self.columns.iter().enumerate() {
            let c = u16::try_from(i)?;
            if i == 0 {
                record.push("합계 (total)".to_owned());
                self.sheet.write_string_with_format(self.row, c, "합계 (total)", &self.formats.total)?;
            } else if column.summed {
                record.push(self.totals[i].to_string());
                self.sheet.write_number_with_format(self.row, c, self.totals[i] as f64, &self.formats.total_money)?;
            } else {
                record.push(String::new());
            }
        }
        self.csv.write_record(&record)?;
        self.csv.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?.flush()?;
        Ok(rows)
    }
}
