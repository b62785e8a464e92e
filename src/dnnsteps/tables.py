"""One Markdown table renderer for every table the package prints or writes."""


def markdown(header, rows, right=()) -> str:
    """A pipe table: the header cells, rows of cells, and which columns (by index)
    are numbers aligned to the right."""
    rule = ["---:" if i in right else "---" for i in range(len(header))]
    lines = [list(header), rule, *rows]
    return "\n".join("| " + " | ".join(str(cell) for cell in line) + " |" for line in lines)
