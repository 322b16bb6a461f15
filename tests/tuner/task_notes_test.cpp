#include "tuner/task_notes.h"

#include <gtest/gtest.h>

#include <cmath>

namespace priortune::tuner {
namespace {

TEST(TaskNotes, RoundTripThroughTheStoredJsonWithTheirFields) {
  TaskNotes notes = {{"guard.kept",
                      "cost model: kept the task-only model",
                      {{"chosen", "task-only"}},
                      {{"batches", 4}, {"primary_accuracy", 0.625}}},
                     {"transfer.no_records", "transfer: nothing to transfer", {}, {}}};
  auto back = ParseNotes(NotesJson(notes));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->size(), 2u);
  const TaskNote* kept = FindNote(*back, "guard.kept");
  ASSERT_NE(kept, nullptr);
  EXPECT_EQ(kept->text, "cost model: kept the task-only model");
  EXPECT_EQ(kept->String("chosen"), "task-only");
  EXPECT_EQ(kept->Number("batches"), 4);
  EXPECT_EQ(kept->Number("primary_accuracy"), 0.625);
  EXPECT_EQ(kept->String("missing"), "");
  EXPECT_TRUE(std::isnan(kept->Number("missing")));
  EXPECT_EQ((*back)[1].kind, "transfer.no_records");
  EXPECT_EQ(FindNote(*back, "meta.model"), nullptr);
  EXPECT_EQ(NotesText(*back), "cost model: kept the task-only model\ntransfer: nothing to transfer");
}

TEST(TaskNotes, NoneIsEmptyAndTextThatIsNotNotesIsRefused) {
  auto none = ParseNotes("");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_EQ(NotesJson({}), "[]");
  for (const char* bad : {"cost model: kept the transferred model", "{}", "[1]", "[{\"text\":\"no kind\"}]"}) {
    auto parsed = ParseNotes(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace priortune::tuner
