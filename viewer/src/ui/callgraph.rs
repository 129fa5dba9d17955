//! The call graph view: a search entry and a ColumnView of [`Row`]s, as a tree (expanders)
//! or a list, sortable by every column.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use gtk::prelude::*;
use gtk::{gio, glib};

use crate::model::rows::{self, Column, Row};
use crate::model::units;

/// The columns, in the order shown: the title, the figure, and whether it is shown in
/// compare mode (or only outside it).
const COLUMNS: [(&str, Column, Option<bool>); 10] = [
    ("Function", Column::Function, None),
    ("Allocations", Column::Allocations, Some(false)),
    ("Bytes", Column::Bytes, Some(false)),
    ("Peak", Column::Peak, Some(false)),
    ("Leaked", Column::Leaked, Some(false)),
    ("Temporary", Column::Temporary, Some(false)),
    ("Live before", Column::Before, Some(true)),
    ("Live after", Column::After, Some(true)),
    ("Change", Column::Change, Some(true)),
    ("New, still live", Column::NewLive, Some(true)),
];

/// The call graph widget and its state.
pub struct CallGraph {
    pub widget: gtk::Box,
    pub search: gtk::SearchEntry,
    pub view: gtk::ColumnView,
    /// The rows as the view lists them, sorted, with the tree's expansion.
    pub sorted: gtk::SortListModel,
    pub selection: gtk::SingleSelection,
    columns: Vec<(gtk::ColumnViewColumn, Column, Option<bool>)>,
    percent: gtk::ColumnViewColumn,
    /// Every row, before the search.
    rows: RefCell<Vec<Rc<Row>>>,
    /// The figure the percentage column is a share of, and its total.
    share: Rc<RefCell<(Column, i128)>>,
    root: gio::ListStore,
    /// Whether the columns are those of compare mode.
    compare: Cell<bool>,
}

/// The row an item of the models holds.
pub fn row_of(item: &glib::Object) -> Option<Rc<Row>> {
    let item = match item.downcast_ref::<gtk::TreeListRow>() {
        Some(tree_row) => tree_row.item()?,
        None => item.clone(),
    };
    let boxed = item.downcast::<glib::BoxedAnyObject>().ok()?;
    let row = boxed.borrow::<Rc<Row>>().clone();
    Some(row)
}

fn store(rows: &[Rc<Row>]) -> gio::ListStore {
    let store = gio::ListStore::new::<glib::BoxedAnyObject>();
    let items: Vec<glib::BoxedAnyObject> = rows
        .iter()
        .map(|r| glib::BoxedAnyObject::new(r.clone()))
        .collect();
    store.extend_from_slice(&items);
    store
}

impl CallGraph {
    pub fn new() -> Rc<CallGraph> {
        let root = gio::ListStore::new::<glib::BoxedAnyObject>();
        let tree = gtk::TreeListModel::new(root.clone(), false, false, |item| {
            let row = row_of(item)?;
            (!row.children.is_empty()).then(|| store(&row.children).upcast())
        });
        let view = gtk::ColumnView::new(None::<gtk::SingleSelection>);
        view.set_show_column_separators(true);
        view.add_css_class("data-table");
        let row_sorter = gtk::TreeListRowSorter::new(view.sorter());
        let sorted = gtk::SortListModel::new(Some(tree), Some(row_sorter));
        let selection = gtk::SingleSelection::new(Some(sorted.clone()));
        view.set_model(Some(&selection));
        let share = Rc::new(RefCell::new((Column::Bytes, 0i128)));
        let mut columns = Vec::new();
        for (title, column, compare) in COLUMNS {
            let c = gtk::ColumnViewColumn::new(Some(title), Some(cell_factory(column)));
            c.set_sorter(Some(&gtk::CustomSorter::new(move |a, b| {
                match (row_of(a), row_of(b)) {
                    (Some(a), Some(b)) => column.compare(&a, &b).into(),
                    _ => gtk::Ordering::Equal,
                }
            })));
            c.set_resizable(true);
            if column == Column::Function {
                c.set_expand(true);
            }
            view.append_column(&c);
            columns.push((c, column, compare));
        }
        let percent = gtk::ColumnViewColumn::new(Some("%"), Some(percent_factory(share.clone())));
        view.append_column(&percent);
        let search = gtk::SearchEntry::new();
        search.set_placeholder_text(Some("Search functions"));
        let scrolled = gtk::ScrolledWindow::builder()
            .child(&view)
            .vexpand(true)
            .hexpand(true)
            .build();
        let widget = gtk::Box::new(gtk::Orientation::Vertical, 6);
        widget.append(&search);
        widget.append(&scrolled);
        let graph = Rc::new(CallGraph {
            widget,
            search,
            view,
            sorted,
            selection,
            columns,
            percent,
            rows: RefCell::new(Vec::new()),
            share,
            root,
            compare: Cell::new(true),
        });
        let weak = Rc::downgrade(&graph);
        graph.search.connect_search_changed(move |_| {
            if let Some(g) = weak.upgrade() {
                g.refill();
            }
        });
        graph.set_compare(false);
        graph
    }

    /// Shows `rows`; the percentage column is each row's share of `total` in `column`.
    pub fn show(&self, rows: Vec<Rc<Row>>, column: Column, total: i128) {
        *self.share.borrow_mut() = (column, total);
        *self.rows.borrow_mut() = rows;
        self.refill();
    }

    fn refill(&self) {
        let shown = rows::filter(&self.rows.borrow(), &self.search.text());
        self.root.remove_all();
        let items: Vec<glib::BoxedAnyObject> =
            shown.into_iter().map(glib::BoxedAnyObject::new).collect();
        self.root.extend_from_slice(&items);
        // Open the first row and its first child, and so on down: the heaviest path (in the
        // sort order) is visible at once.
        for i in 0..12 {
            match self.sorted.item(i).and_downcast::<gtk::TreeListRow>() {
                Some(row) if row.is_expandable() => row.set_expanded(true),
                _ => break,
            }
        }
    }

    /// Shows the columns of compare mode, or those of an analysis; on a change of mode,
    /// sorts by the largest change, or by bytes.
    pub fn set_compare(&self, compare: bool) {
        for (c, _, only) in &self.columns {
            c.set_visible(only.is_none_or(|o| o == compare));
        }
        self.percent.set_visible(true);
        if self.compare.replace(compare) != compare {
            self.sort_by(
                if compare {
                    Column::Change
                } else {
                    Column::Bytes
                },
                false,
            );
        }
    }

    /// Sorts by `column`, largest first (or smallest first when `ascending`).
    pub fn sort_by(&self, column: Column, ascending: bool) {
        let order = if ascending {
            gtk::SortType::Ascending
        } else {
            gtk::SortType::Descending
        };
        if let Some((c, _, _)) = self.columns.iter().find(|(_, col, _)| *col == column) {
            self.view.sort_by_column(Some(c), order);
        }
    }

    /// The rows as listed: their depth in the tree and the row.
    pub fn listed(&self) -> Vec<(usize, Rc<Row>)> {
        (0..self.sorted.n_items())
            .filter_map(|i| {
                let item = self.sorted.item(i)?;
                let depth = item
                    .downcast_ref::<gtk::TreeListRow>()
                    .map_or(0, |r| r.depth() as usize);
                Some((depth, row_of(&item)?))
            })
            .collect()
    }

    /// The selected row, if any.
    pub fn selected(&self) -> Option<Rc<Row>> {
        row_of(&self.selection.selected_item()?)
    }
}

/// Cells of one column: the function with its expander, or a figure.
fn cell_factory(column: Column) -> gtk::SignalListItemFactory {
    let factory = gtk::SignalListItemFactory::new();
    factory.connect_setup(move |_, item| {
        let item = item.downcast_ref::<gtk::ListItem>().expect("list item");
        let label = gtk::Label::new(None);
        if column == Column::Function {
            label.set_xalign(0.0);
            label.set_ellipsize(gtk::pango::EllipsizeMode::End);
            let expander = gtk::TreeExpander::new();
            expander.set_child(Some(&label));
            item.set_child(Some(&expander));
        } else {
            label.set_xalign(1.0);
            label.add_css_class("numeric");
            item.set_child(Some(&label));
        }
    });
    factory.connect_bind(move |_, item| {
        let item = item.downcast_ref::<gtk::ListItem>().expect("list item");
        let Some(tree_row) = item.item().and_downcast::<gtk::TreeListRow>() else {
            return;
        };
        let Some(row) = row_of(tree_row.upcast_ref()) else {
            return;
        };
        let child = item.child();
        if let Some(expander) = child.and_downcast_ref::<gtk::TreeExpander>() {
            expander.set_list_row(Some(&tree_row));
            if let Some(label) = expander.child().and_downcast::<gtk::Label>() {
                label.set_text(&row.name);
                label.set_tooltip_text(Some(&format!("{}\n{}", row.name, row.location)));
            }
        } else if let Some(label) = item.child().and_downcast::<gtk::Label>() {
            label.set_text(&cell_text(column, &row));
        }
    });
    factory
}

/// The text of a figure cell.
pub fn cell_text(column: Column, row: &Row) -> String {
    let v = column.value(row);
    let plain = u64::try_from(v).unwrap_or(0);
    match column {
        Column::Function => row.name.clone(),
        Column::Allocations | Column::Temporary => units::count(plain),
        Column::Change => units::signed_bytes(v),
        _ => units::bytes(plain),
    }
}

fn percent_factory(share: Rc<RefCell<(Column, i128)>>) -> gtk::SignalListItemFactory {
    let factory = gtk::SignalListItemFactory::new();
    factory.connect_setup(|_, item| {
        let item = item.downcast_ref::<gtk::ListItem>().expect("list item");
        let label = gtk::Label::new(None);
        label.set_xalign(1.0);
        label.add_css_class("numeric");
        item.set_child(Some(&label));
    });
    factory.connect_bind(move |_, item| {
        let item = item.downcast_ref::<gtk::ListItem>().expect("list item");
        let (Some(row), Some(label)) = (
            item.item().and_then(|i| row_of(&i)),
            item.child().and_downcast::<gtk::Label>(),
        ) else {
            return;
        };
        let (column, total) = *share.borrow();
        let part = column.value(&row).unsigned_abs();
        let total = total.unsigned_abs();
        let clamp = |v: u128| u64::try_from(v).unwrap_or(u64::MAX);
        label.set_text(&units::percent(clamp(part), clamp(total)));
    });
    factory
}
