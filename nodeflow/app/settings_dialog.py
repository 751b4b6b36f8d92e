"""Settings: model folders, input and output folders, device, precision, cache memory budget, CPU threads, theme,
autosave.
Stored with QSettings (``preferences.Preferences``) and turned into ``nodeflow.config.Settings`` by the window."""
from __future__ import annotations

import os

from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QListWidget, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from nodeflow.app.preferences import THEMES, Preferences
from nodeflow.config import DEVICES, PRECISIONS
from nodeflow.core.device import FEW_CORES


class _FolderField(QWidget):
    def __init__(self, text: str, placeholder: str):
        super().__init__()
        self.edit = QLineEdit(text)
        self.edit.setPlaceholderText(placeholder)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        h = QHBoxLayout(self)
        h.setContentsMargins(0, 0, 0, 0)
        h.addWidget(self.edit, 1)
        h.addWidget(browse)

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose a folder", self.edit.text())
        if path:
            self.edit.setText(path)


class SettingsDialog(QDialog):
    def __init__(self, prefs: Preferences, settings, parent: QWidget | None = None):
        """``settings``: the Settings in effect (shown as placeholders for what the preferences leave alone)."""
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(560)
        self.prefs = prefs.copy()
        self.models = QListWidget()
        self.models.addItems(prefs.model_dirs)
        self.models.setMaximumHeight(90)
        self.models.setToolTip("Model roots in ComfyUI's layout (<root>/checkpoints, /loras, /vae), searched first.\n"
                               f"Also searched: {', '.join(str(p) for p in settings.model_roots)}")
        add, remove = QPushButton("Add…"), QPushButton("Remove")
        add.clicked.connect(self._add_model_dir)
        remove.clicked.connect(lambda: [self.models.takeItem(self.models.row(i)) for i in self.models.selectedItems()])
        buttons = QVBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(remove)
        buttons.addStretch(1)
        models_row = QHBoxLayout()
        models_row.addWidget(self.models, 1)
        models_row.addLayout(buttons)
        searched = QLabel("Also searched: " + ", ".join(str(p) for p in settings.model_roots
                                                          if str(p) not in prefs.model_dirs))
        searched.setObjectName("dimText")
        searched.setWordWrap(True)
        models_column = QVBoxLayout()
        models_column.addLayout(models_row)
        models_column.addWidget(searched)
        self.input_dir = _FolderField(prefs.input_dir, str(settings.input_dir))
        self.output_dir = _FolderField(prefs.output_dir, str(settings.output_dir))
        self.device = QComboBox()
        self.device.addItems(DEVICES)
        self.device.setCurrentText(prefs.device or settings.device)
        self.precision = QComboBox()
        self.precision.addItems(PRECISIONS)
        self.precision.setCurrentText(prefs.precision or settings.precision)
        self.cache = QSpinBox()
        self.cache.setRange(64, 1024 * 1024)
        self.cache.setSingleStep(256)
        self.cache.setSuffix(" MB")
        self.cache.setValue(prefs.cache_budget_mb or settings.cache_budget_mb)
        self.cache.setToolTip("Memory for cached node outputs; least recently used results are dropped beyond it")
        self.cpu_threads = QSpinBox()
        self.cpu_threads.setRange(0, max(os.cpu_count() or 1, settings.cpu_threads))
        self.cpu_threads.setSpecialValueText("automatic")  # shown for 0
        self.cpu_threads.setValue(prefs.cpu_threads if prefs.cpu_threads is not None else settings.cpu_threads)
        self.cpu_threads.setToolTip("Threads for running models on the CPU. Automatic (or OMP_NUM_THREADS when set) "
                                    "uses one thread per physical core, keeps one core for the editor on machines "
                                    f"with up to {FEW_CORES} cores, and leaves cores that other programs keep busy "
                                    "to them: more threads than idle cores makes every step slower.")
        self.theme = QComboBox()
        self.theme.addItems(THEMES)
        self.theme.setCurrentText(prefs.theme)
        self.autosave = QSpinBox()
        self.autosave.setRange(5, 3600)
        self.autosave.setSuffix(" s")
        self.autosave.setValue(prefs.autosave_seconds)
        form = QFormLayout()
        form.addRow("Model folders", models_column)
        form.addRow("Input folder", self.input_dir)
        form.addRow("Output folder", self.output_dir)
        form.addRow("Device", self.device)
        form.addRow("Precision", self.precision)
        form.addRow("Cache budget", self.cache)
        form.addRow("CPU threads", self.cpu_threads)
        form.addRow("Theme", self.theme)
        form.addRow("Autosave every", self.autosave)
        note = QLabel("Device and precision apply to the next model load (use Run > Free memory to reload); "
                      "CPU threads to the next run.")
        note.setObjectName("dimText")
        note.setWordWrap(True)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(box)

    def _add_model_dir(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Add a model folder")
        if path:
            self.models.addItem(path)

    def result_preferences(self) -> Preferences:
        p = self.prefs.copy()
        p.model_dirs = [self.models.item(i).text() for i in range(self.models.count())]
        p.input_dir = self.input_dir.edit.text().strip()
        p.output_dir = self.output_dir.edit.text().strip()
        p.device = self.device.currentText()
        p.precision = self.precision.currentText()
        p.cache_budget_mb = self.cache.value()
        p.cpu_threads = self.cpu_threads.value()
        p.theme = self.theme.currentText()
        p.autosave_seconds = self.autosave.value()
        return p
