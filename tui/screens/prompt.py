"""A one-line question (export path, note): enter answers, escape cancels."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from tui import keys
from tui.safe_text import safe


class PromptScreen(ModalScreen[str | None]):
    BINDINGS = keys.bindings("dialog")

    DEFAULT_CSS = """
    PromptScreen { align: center middle; }
    PromptScreen > Vertical { width: 90%; max-width: 100; height: auto;
                              border: round $primary; padding: 0 1; background: $surface; }
    PromptScreen Input { border: none; height: 1; padding: 0; }
    PromptScreen .prompt--hint { color: $text-muted; }
    """

    def __init__(self, question: str, value: str = "", hint: str = "") -> None:
        super().__init__()
        self.question = question
        self.value = value
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(safe(self.question))
            field = Input(value=self.value, id="prompt-input")
            field.cursor_blink = False  # over SSH each blink is a redraw
            yield field
            yield Static(Text((self.hint + "  " if self.hint else "")
                              + "enter: ok · esc: cancel"), classes="prompt--hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def action_close(self) -> None:
        self.dismiss(None)
