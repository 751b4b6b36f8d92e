"""Dark (default) and light themes for the window: a Fusion QPalette plus a small style sheet, both built from the
shared colours in ``theme_colors`` so panels and canvas always match."""
from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from nodeflow.app.theme_colors import Palette, palette

THEME_NAMES = ("dark", "light")


def qt_palette(p: Palette) -> QPalette:
    pal = QPalette()
    c = QColor
    window, base, text = c(p.window_bg), c(p.panel_bg), c(p.panel_text)
    alt = base.lighter(112) if p.is_dark else base.darker(104)
    button = c(p.widget_bg) if p.is_dark else c(p.window_bg)
    roles = {
        QPalette.ColorRole.Window: window, QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base, QPalette.ColorRole.AlternateBase: alt,
        QPalette.ColorRole.Text: text, QPalette.ColorRole.Button: button, QPalette.ColorRole.ButtonText: text,
        QPalette.ColorRole.ToolTipBase: base, QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.Highlight: c(p.accent), QPalette.ColorRole.HighlightedText: c("#ffffff"),
        QPalette.ColorRole.PlaceholderText: c(p.text_dim), QPalette.ColorRole.Link: c(p.accent),
        QPalette.ColorRole.Mid: c(p.border), QPalette.ColorRole.Midlight: c(p.border),
        QPalette.ColorRole.Dark: window.darker(130), QPalette.ColorRole.Light: base.lighter(120),
        QPalette.ColorRole.BrightText: c(p.error),
    }
    for role, colour in roles.items():
        pal.setColor(role, colour)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        pal.setColor(QPalette.ColorGroup.Disabled, role, c(p.text_dim))
    return pal


def style_sheet(p: Palette) -> str:
    return f"""
QMainWindow::separator {{ background: {p.border}; width: 1px; height: 1px; }}
QDockWidget {{ color: {p.panel_text}; }}
QDockWidget::title {{ background: {p.window_bg}; padding: 4px 6px; border-bottom: 1px solid {p.border}; }}
QTabWidget::pane {{ border: none; }}
QTabBar::tab {{ background: {p.window_bg}; color: {p.text_dim}; padding: 5px 12px; border: 1px solid {p.border};
               border-bottom: none; margin-right: 1px; }}
QTabBar::tab:selected {{ background: {p.panel_bg}; color: {p.panel_text}; border-top: 2px solid {p.accent}; }}
QToolButton#tabClose {{ padding: 0px 4px; border: none; color: {p.text_dim}; font-size: 14px; }}
QToolButton#tabClose:hover {{ color: {p.panel_text}; background: {p.widget_hover}; }}
QToolBar {{ background: {p.window_bg}; border-bottom: 1px solid {p.border}; spacing: 4px; padding: 3px; }}
QToolButton {{ padding: 3px 8px; border-radius: 3px; }}
QToolButton:hover {{ background: {p.widget_hover}; }}
QToolButton#runButton {{ background: {p.accent}; color: #ffffff; font-weight: bold; }}
QToolButton#runButton:disabled {{ background: {p.border}; }}
QProgressBar {{ border: 1px solid {p.border}; border-radius: 3px; background: {p.panel_bg}; color: {p.panel_text};
               text-align: center; min-height: 18px; }}
QProgressBar::chunk {{ background: {p.running}; border-radius: 2px; }}
QLineEdit, QPlainTextEdit, QSpinBox, QDoubleSpinBox, QComboBox {{ border: 1px solid {p.border}; border-radius: 3px;
               padding: 2px 4px; background: {p.widget_bg}; color: {p.widget_text}; }}
QLineEdit:focus, QPlainTextEdit:focus, QSpinBox:focus, QDoubleSpinBox:focus, QComboBox:focus {{
               border-color: {p.accent}; }}
QTreeWidget, QListWidget {{ border: none; background: {p.panel_bg}; }}
QLabel#inspectorHeader {{ font-weight: bold; font-size: 13px; }}
QLabel#dimText {{ color: {p.text_dim}; }}
QLabel#errorText {{ color: {p.error}; }}
"""


def apply_theme(app: QApplication, name: str) -> Palette:
    """Theme the whole application; returns the colour palette (pass it on to canvases)."""
    p = palette(name)
    app.setStyle("Fusion")
    app.setPalette(qt_palette(p))
    app.setStyleSheet(style_sheet(p))
    return p
