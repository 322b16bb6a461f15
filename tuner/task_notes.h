// What a task's search decided along the way: the meta-trained model it loaded, the model
// it transferred, the cost model the guard kept. Each note is a kind and its fields, with
// a sentence for people; a task stores its notes as a JSON array of objects, each with
// "kind", "text" and its fields (db::TaskRow::notes), which tests and tools read by kind
// and field.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "compiler/support/status.h"

namespace priortune::tuner {

struct TaskNote {
  std::string kind;  // e.g. guard.kept, transfer.trained (docs/design.md lists them)
  std::string text;  // the sentence `priortune tune` prints
  std::map<std::string, std::string> strings;
  std::map<std::string, double> numbers;

  // A field's value; "" / NaN when the note has none.
  std::string String(const std::string& field) const;
  double Number(const std::string& field) const;
};
using TaskNotes = std::vector<TaskNote>;

// The notes as stored: a JSON array of objects with kind, text and the fields.
std::string NotesJson(const TaskNotes& notes);
// Stored notes back; "" is none. InvalidArgument for text that is not such an array.
StatusOr<TaskNotes> ParseNotes(const std::string& json);
// The sentences, one per line.
std::string NotesText(const TaskNotes& notes);
// The first note of `kind`, or nullptr.
const TaskNote* FindNote(const TaskNotes& notes, const std::string& kind);

}  // namespace priortune::tuner
