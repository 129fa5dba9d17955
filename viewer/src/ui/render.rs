//! Rendering a widget to a PNG file, without a screenshot tool: its paintable is snapshotted
//! and the render node drawn by the window's own renderer.

use std::path::Path;

use gtk::prelude::*;
use gtk::{gdk, gsk};

/// Renders `widget` (which must be shown in a window) to a texture.
pub fn texture(widget: &impl IsA<gtk::Widget>) -> Result<gdk::Texture, String> {
    let widget = widget.as_ref();
    let (w, h) = (widget.width(), widget.height());
    if w <= 0 || h <= 0 {
        return Err("the widget is not allocated".into());
    }
    let paintable = gtk::WidgetPaintable::new(Some(widget));
    let snapshot = gtk::Snapshot::new();
    paintable.snapshot(&snapshot, f64::from(w), f64::from(h));
    let node = snapshot.to_node().ok_or("nothing was drawn")?;
    let renderer: gsk::Renderer = match widget.native().and_then(|n| n.renderer()) {
        Some(r) => r,
        None => {
            let r = gsk::CairoRenderer::new();
            r.realize(None::<&gdk::Surface>)
                .map_err(|e| e.to_string())?;
            r.upcast()
        }
    };
    Ok(renderer.render_texture(node, None))
}

/// Renders `widget` to the PNG file `path`.
pub fn png(widget: &impl IsA<gtk::Widget>, path: &Path) -> Result<(), String> {
    texture(widget)?
        .save_to_png(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
