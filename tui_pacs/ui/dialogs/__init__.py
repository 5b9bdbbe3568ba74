"""Modal dialogs: questions, forms and reports."""
