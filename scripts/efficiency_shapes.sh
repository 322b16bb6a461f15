# The shapes of the tuning-efficiency studies and their names (sourced by tuning_efficiency.sh and
# xgb_batch_study.sh): "name op shape", 3 GEMM and 3 conv2d shapes of the bench suite.
shapes=(
  "square-512 matmul 512x512x512"
  "bert-ffn1 matmul 128x3072x768"
  "bert-proj matmul 128x768x768"
  "r18-c2 conv2d 64x64x56x3x1x1"
  "r18-c4 conv2d 128x128x28x3x1x1"
  "r18-c5 conv2d 256x256x14x3x1x1"
)
names=()  # the shapes' names, in order
for entry in "${shapes[@]}"; do read -r name _ _ <<<"$entry"; names+=("$name"); done
