from labelspace.cli import main

main()
