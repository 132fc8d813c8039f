package service

import "math/rand/v2"

func mrandN(n int) int { return rand.IntN(n) }
