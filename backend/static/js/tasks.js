// The task list: add, complete/uncomplete, rename inline, delete, filter, through the REST API.

import { el, icon, show, focusKey, restoreFocus } from "./dom.js";

const EMPTY_TEXT = {
  all: "No tasks yet. Add one above, or ask the assistant.",
  pending: "Nothing pending. Well done!",
  completed: "No completed tasks yet.",
};

export class TaskList {
  constructor(api, userId) {
    this.api = api;
    this.base = `/api/${encodeURIComponent(userId)}/tasks`;
    this.filter = "all";
    this.tasks = [];
    this.loadSeq = 0;
    this.list = document.getElementById("task-list");
    this.empty = document.getElementById("tasks-empty");
    this.count = document.getElementById("task-count");
    this.error = document.getElementById("tasks-error");
    this.form = document.getElementById("add-task-form");
    this.input = document.getElementById("new-task-title");
    this.filters = [...document.querySelectorAll(".filter")];

    this._onAdd = (event) => {
      event.preventDefault();
      this.add();
    };
    this.form.addEventListener("submit", this._onAdd);
    this._filterHandlers = this.filters.map((button) => {
      const handler = () => this.setFilter(button.dataset.status);
      button.addEventListener("click", handler);
      return handler;
    });
  }

  /** Detach listeners (on sign-out) so a later sign-in starts clean. */
  destroy() {
    this.form.removeEventListener("submit", this._onAdd);
    this.filters.forEach((button, i) => button.removeEventListener("click", this._filterHandlers[i]));
    this.list.replaceChildren();
    this.count.textContent = "";
    show(this.empty, false);
    show(this.error, false);
  }

  setFilter(status) {
    this.filter = status;
    for (const button of this.filters) {
      button.setAttribute("aria-pressed", String(button.dataset.status === status));
    }
    this.load();
  }

  showError(error) {
    this.error.replaceChildren(el("span", { text: error.message }));
    if (error.retryable) {
      this.error.append(
        el("button", {
          className: "btn btn-small",
          text: "Retry",
          attrs: { type: "button" },
          on: { click: () => this.load() },
        }),
      );
    }
    show(this.error, true);
  }

  async load() {
    // Only the newest load renders: a slow answer for an old filter must not overwrite it.
    const seq = ++this.loadSeq;
    try {
      const tasks = await this.api.request("GET", `${this.base}?status=${this.filter}`);
      if (seq !== this.loadSeq) return;
      this.tasks = tasks;
      show(this.error, false);
      this.render();
    } catch (error) {
      if (seq === this.loadSeq && error.status !== 401) this.showError(error);
    }
  }

  async add() {
    const title = this.input.value.trim();
    if (!title) {
      this.input.focus();
      return;
    }
    // Cleared at once, not when the answer comes: what the user types meanwhile (the next
    // task) is theirs, and a late answer must not wipe it.
    this.input.value = "";
    try {
      await this.api.request("POST", this.base, { title });
      await this.load();
    } catch (error) {
      if (!this.input.value) this.input.value = title; // not added: nothing lost, ready to retry
      if (error.status !== 401) this.showError(error);
    }
    this.input.focus();
  }

  async mutate(method, path, body) {
    try {
      await this.api.request(method, path, body);
    } catch (error) {
      if (error.status !== 401) this.showError(error);
    }
    await this.load();
  }

  render() {
    const key = focusKey();
    this.list.replaceChildren(...this.tasks.map((task) => this.renderTask(task)));
    const n = this.tasks.length;
    this.count.textContent = n === 1 ? "1 task" : `${n} tasks`;
    this.empty.textContent = EMPTY_TEXT[this.filter];
    show(this.empty, n === 0);
    if (key && !restoreFocus(this.list, key) && key.startsWith("task-")) this.input.focus();
  }

  renderTask(task) {
    const id = task.id;
    const checkbox = el("input", {
      className: "task-check",
      attrs: {
        type: "checkbox",
        id: `task-check-${id}`,
        "aria-label": `${task.completed ? "Mark as not done" : "Mark as done"}: ${task.title}`,
      },
      dataset: { focus: `task-toggle-${id}` },
      on: { change: () => this.mutate("PATCH", `${this.base}/${id}/complete`) },
    });
    checkbox.checked = task.completed;

    const title = el("span", {
      className: "task-title",
      text: task.title,
      attrs: { title: "Double-click to rename" },
      on: { dblclick: () => this.startRename(item, task) },
    });
    const body = el("div", { className: "task-body" }, title);
    if (task.description) {
      body.append(el("span", { className: "task-description", text: task.description }));
    }

    const rename = el(
      "button",
      {
        className: "icon-btn",
        attrs: { type: "button", "aria-label": `Rename: ${task.title}`, title: "Rename" },
        dataset: { focus: `task-rename-${id}` },
        on: { click: () => this.startRename(item, task) },
      },
      icon("pencil"),
    );
    const remove = el(
      "button",
      {
        className: "icon-btn icon-btn-danger",
        attrs: { type: "button", "aria-label": `Delete: ${task.title}`, title: "Delete" },
        dataset: { focus: `task-delete-${id}` },
        on: { click: () => this.mutate("DELETE", `${this.base}/${id}`) },
      },
      icon("trash"),
    );
    const item = el(
      "li",
      { className: task.completed ? "task is-done" : "task", dataset: { id: String(id) } },
      checkbox,
      body,
      el("div", { className: "task-actions" }, rename, remove),
    );
    return item;
  }

  /** Swap the title for a text field: Enter or leaving the field saves, Escape cancels. */
  startRename(item, task) {
    const body = item.querySelector(".task-body");
    const input = el("input", {
      className: "rename-input",
      attrs: {
        type: "text",
        maxlength: "200",
        "aria-label": `New title for: ${task.title}`,
        autocomplete: "off",
      },
    });
    input.value = task.title;
    let finished = false;
    const finish = async (save) => {
      if (finished) return;
      finished = true;
      const title = input.value.trim();
      if (save && title && title !== task.title) {
        await this.mutate("PUT", `${this.base}/${task.id}`, { title });
      } else {
        this.render();
      }
      restoreFocus(this.list, `task-rename-${task.id}`);
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        finish(true);
      } else if (event.key === "Escape") {
        event.preventDefault();
        finish(false);
      }
    });
    input.addEventListener("blur", () => finish(true));
    body.replaceChildren(input);
    item.classList.add("is-editing");
    input.focus();
    input.select();
  }
}
