from shopwatch.cli.app import main

main()
